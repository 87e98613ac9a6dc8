// Child of s3-faults.test.ts: saves to S3 from the writer thread and lists from the main thread (each loads the SDK).
import { CheckpointManager, CheckpointState, CheckpointTier } from '../../src/checkpoint/index.js';

const s = JSON.parse(process.argv[2]) as { bucket: string; endpoint: string; credentials: { accessKeyId: string; secretAccessKey: string }; dir: string };
const manager = new CheckpointManager({ nvmePath: s.dir, s3Bucket: s.bucket, s3Endpoint: s.endpoint, s3ForcePathStyle: true, s3Credentials: s.credentials });
await manager.saveCheckpoint(new CheckpointState({ step: 1 }), CheckpointTier.S3);
if (!(await manager.waitForPendingSaves())) process.exit(3);
const names = await manager.backend(CheckpointTier.S3).listCheckpoints();
process.stdout.write(`listed ${names.join(',')}\n`);
await manager.close();
