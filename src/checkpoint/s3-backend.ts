import type { S3Client } from '@aws-sdk/client-s3';
import { assertS3Prefix } from '../config/index.js';
import { CheckpointError, CheckpointLoadError, CheckpointValidationError, ConfigurationError, describeError } from '../errors/index.js';
import { runStaged, stageWrite } from './async-save.js';
import { CheckpointLoadConfig } from './load-config.js';
import { deleteAllButNewest, newestListed } from './retention.js';
import { assertNameOfStep, assertValidName, checkpointName, nameAgreesWithStep, sortByStep, stepOfName } from './names.js';
import { sharedCaller, type PersistentAsyncCaller } from './persistent-caller.js';
import { planCheckpoint } from './plan.js';
import { normalizedPrefix, type S3Settings } from './s3-settings.js';

type S3Io = typeof import('./s3-io.js');
import { StagingPool } from './staging.js';
import { CheckpointState } from './state.js';
import { CheckpointTier, type CheckpointBackend, type PendingSave } from './tier.js';

export interface S3BackendOptions extends S3Settings {
  caller?: PersistentAsyncCaller;
  stagingPool?: StagingPool;
  loadConfig?: CheckpointLoadConfig;
}

/** Checkpoints under a key prefix of an S3-compatible bucket; the commit marker is uploaded last. */
export class S3Backend implements CheckpointBackend {
  readonly tier = CheckpointTier.S3;
  readonly settings: S3Settings;
  private io: Promise<{ mod: S3Io; client: S3Client }> | undefined;
  readonly stagingPool: StagingPool;
  private readonly caller: PersistentAsyncCaller;
  private readonly loadConfig: CheckpointLoadConfig;

  constructor(options: S3BackendOptions) {
    const { caller, stagingPool, loadConfig, ...settings } = options;
    if (typeof settings.bucket !== 'string' || settings.bucket === '') {
      throw new ConfigurationError('The S3 tier needs a bucket', { configKey: 's3Bucket', suggestions: ['Set s3Bucket (CheckpointConfig) or bucket (S3Backend), or do not use the S3 tier.'] });
    }
    if (settings.partSize !== undefined && settings.partSize < 5 * 1024 * 1024) {
      throw new ConfigurationError(`partSize ${settings.partSize} is below S3's 5 MiB minimum part`, { configKey: 'partSize' });
    }
    if (settings.prefix !== undefined) assertS3Prefix(settings.prefix);
    this.settings = settings;
    this.caller = caller ?? sharedCaller();
    this.stagingPool = stagingPool ?? new StagingPool();
    this.loadConfig = loadConfig ?? new CheckpointLoadConfig();
  }

  /** The AWS SDK is loaded on first use only, so that processes without an S3 tier never pay for it. */
  private async s3(): Promise<{ mod: S3Io; client: S3Client }> {
    this.io ??= import('./s3-io.js').then((mod) => ({ mod, client: mod.makeS3Client(this.settings) }));
    return this.io;
  }

  /** The S3 client this backend uses. */
  async getClient(): Promise<S3Client> {
    return (await this.s3()).client;
  }

  pathOf(name: string): string {
    assertValidName(name, this.tier);
    return `s3://${this.settings.bucket}/${normalizedPrefix(this.settings)}${name}`;
  }

  /** The server this backend talks to, for messages. */
  get endpoint(): string {
    return this.settings.endpoint ?? `AWS S3 (${this.settings.region ?? 'us-east-1'})`;
  }

  async save(state: CheckpointState, name = checkpointName(state.step)): Promise<string> {
    assertValidName(name, this.tier);
    assertNameOfStep(name, state.step, this.tier);
    const { plan, sources } = planCheckpoint(state.toDict(), { step: state.step, worldSize: state.worldSize, timestamp: state.timestamp });
    const { mod, client } = await this.s3();
    return mod.writeS3Checkpoint(this.settings, name, plan, sources, client);
  }

  async saveAsync(state: CheckpointState, name = checkpointName(state.step)): Promise<PendingSave> {
    return runStaged(await this.stageAsync(state, name), this.pathOf(name));
  }

  async stageAsync(state: CheckpointState, name = checkpointName(state.step)): Promise<Awaited<ReturnType<typeof stageWrite>>> {
    assertValidName(name, this.tier);
    assertNameOfStep(name, state.step, this.tier);
    return stageWrite(state.toDict(), state.step, state.worldSize, { kind: 's3', settings: this.settings }, name, this.stagingPool, this.caller);
  }

  async load(name?: string, config: CheckpointLoadConfig = this.loadConfig): Promise<CheckpointState> {
    const n = name ?? (await this.getLatestCheckpoint());
    if (n === null) throw new CheckpointLoadError('No committed checkpoint under this prefix', { tier: this.tier, path: `s3://${this.settings.bucket}/${normalizedPrefix(this.settings)}` });
    assertValidName(n, this.tier);
    const { mod, client } = await this.s3();
    const { manifest, state } = await mod.readS3Checkpoint(this.settings, n, config, client);
    if (!nameAgreesWithStep(n, manifest.step)) {
      throw new CheckpointValidationError(`Checkpoint ${n} holds step ${manifest.step}, not the step ${stepOfName(n)} its name says (copied or renamed): it does not count`, { tier: this.tier, path: this.pathOf(n) });
    }
    return CheckpointState.fromDict(state, { validate: config.validateStructure, where: this.pathOf(n) });
  }

  async exists(name: string): Promise<boolean> {
    assertValidName(name, this.tier);
    const { mod, client } = await this.s3();
    return mod.s3Exists(this.settings, name, client);
  }

  /**
   * Committed checkpoints whose marker records the step their name says (one small GET each). A listing that
   * fails (server down, credentials refused) is a CheckpointLoadError naming the endpoint.
   */
  async listCheckpoints(prefix = ''): Promise<string[]> {
    const { mod, client } = await this.s3();
    try {
      const names = (await mod.listS3Checkpoints(this.settings, client)).filter((n) => n.startsWith(prefix));
      const steps = await Promise.all(names.map((n) => mod.readS3MarkerStep(this.settings, n, client)));
      return sortByStep(names.filter((n, i) => steps[i] === null || nameAgreesWithStep(n, steps[i]!)));
    } catch (err) {
      if (err instanceof CheckpointError) throw err;
      throw new CheckpointLoadError(`Cannot list the checkpoints at ${this.endpoint}: ${describeError(err)}`, {
        tier: this.tier,
        path: `s3://${this.settings.bucket}/${normalizedPrefix(this.settings)}`,
        cause: err,
        suggestions: ['Check that the S3 endpoint is up and reachable, the bucket exists and the credentials may list it (`eh config validate FILE --s3` checks all three).'],
      });
    }
  }

  async delete(name: string): Promise<void> {
    assertValidName(name, this.tier);
    const { mod, client } = await this.s3();
    await mod.deleteS3Checkpoint(this.settings, name, client);
  }

  async getLatestCheckpoint(): Promise<string | null> {
    return newestListed(this);
  }

  async cleanupOldCheckpoints(keepLast: number): Promise<string[]> {
    return deleteAllButNewest(this, keepLast);
  }
}
