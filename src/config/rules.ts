import type { ConfigIssue } from './result.js';
import { s3KeyProblem } from './s3.js';

/**
 * Rules across keys. `get` returns a key's value (the default if absent), or undefined when the key itself is
 * invalid: a rule never repeats a problem the schema already reported.
 */
export type Getter = (path: string) => unknown;

const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

export function crossFieldIssues(get: Getter): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const error = (path: string, message: string): void => void out.push({ severity: 'error', path, message });
  const warning = (path: string, message: string): void => void out.push({ severity: 'warning', path, message });

  const minNodes = num(get('elastic.min_nodes'));
  // max_nodes null: the same as min_nodes (a fixed size).
  const maxNodes = get('elastic.max_nodes') === null ? minNodes : num(get('elastic.max_nodes'));
  if (minNodes !== undefined && maxNodes !== undefined) {
    if (maxNodes < minNodes) {
      error('elastic.max_nodes', `elastic.max_nodes (${maxNodes}) must be >= elastic.min_nodes (${minNodes})`);
    } else {
      const base = num(get('elastic.base_world_size'));
      if (base !== undefined && (base < minNodes || base > maxNodes)) {
        warning('elastic.base_world_size', `elastic.base_world_size (${base}) is outside [elastic.min_nodes, elastic.max_nodes] = [${minNodes}, ${maxNodes}]: the job never runs at the size its hyper-parameters were tuned for, so the LR is always scaled`);
      }
    }
  }

  const hbInterval = num(get('elastic.heartbeat_interval'));
  const hbTimeout = num(get('elastic.heartbeat_timeout'));
  if (hbInterval !== undefined && hbTimeout !== undefined && hbInterval >= hbTimeout) {
    error('elastic.heartbeat_interval', `elastic.heartbeat_interval (${hbInterval}) must be below elastic.heartbeat_timeout (${hbTimeout}), or every worker counts as hung`);
  }

  const ckpt = num(get('checkpoint.checkpoint_interval'));
  const snap = num(get('checkpoint.memory_snapshot_interval'));
  if (ckpt !== undefined && snap !== undefined) {
    if (ckpt < snap) {
      warning('checkpoint.checkpoint_interval', `checkpoint.checkpoint_interval (${ckpt}) is smaller than checkpoint.memory_snapshot_interval (${snap}): durable checkpoints are more frequent than memory snapshots, which then add nothing`);
    } else if (ckpt % snap !== 0) {
      warning('checkpoint.checkpoint_interval', `checkpoint.checkpoint_interval (${ckpt}) is not a multiple of checkpoint.memory_snapshot_interval (${snap}): durable checkpoints will not coincide with snapshots; use e.g. ${Math.round(ckpt / snap) * snap || snap}`);
    }
  }

  // The same check CheckpointConfig makes: objects under a prefix with ".." or "//" land where no listing finds them.
  const s3Prefix = get('checkpoint.s3_prefix');
  const prefixProblem = typeof s3Prefix === 'string' ? s3KeyProblem(s3Prefix, { prefix: true }) : undefined;
  if (prefixProblem !== undefined) error('checkpoint.s3_prefix', `checkpoint.s3_prefix (s3Prefix) ${JSON.stringify(s3Prefix)} ${prefixProblem}`);

  if (get('scaling.strategy') === 'constant_batch' && get('scaling.target_global_batch_size') === null) {
    error('scaling.target_global_batch_size', 'scaling.target_global_batch_size is required when scaling.strategy is constant_batch (the global batch to keep constant)');
  }

  const minLr = num(get('scaling.min_lr'));
  const maxLr = num(get('scaling.max_lr'));
  if (minLr !== undefined && maxLr !== undefined && minLr > maxLr) {
    error('scaling.min_lr', `scaling.min_lr (${minLr}) must not exceed scaling.max_lr (${maxLr})`);
  }

  const lr = num(get('training.lr'));
  const floor = num(get('training.min_lr'));
  if (lr !== undefined && floor !== undefined && floor > lr) {
    error('training.min_lr', `training.min_lr (${floor}) must not exceed training.lr (${lr})`);
  }
  const warm = num(get('training.warmup_steps'));
  const maxSteps = num(get('training.max_steps'));
  if (warm !== undefined && maxSteps !== undefined && warm > maxSteps) {
    warning('training.warmup_steps', `training.warmup_steps (${warm}) exceeds training.max_steps (${maxSteps}): the LR never reaches training.lr`);
  }

  if (get('elastic.rdzv_backend') === 'static' && minNodes !== undefined && maxNodes !== undefined && minNodes !== maxNodes) {
    error('elastic.rdzv_backend', `elastic.rdzv_backend static needs a fixed size: elastic.min_nodes (${minNodes}) must equal elastic.max_nodes (${maxNodes})`);
  }
  return out;
}
