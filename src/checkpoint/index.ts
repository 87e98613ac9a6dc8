/**
 * Checkpoints: a crash-safe on-disk format (safetensors data, JSON manifest with checksums, commit marker),
 * memory / local disk / S3 tiers, a manager with fallback loading and retention, and asynchronous saves on a
 * persistent writer thread.
 */
export { DTYPES, DTYPE_NAMES, type Dtype, type TypedArray } from './dtypes.js';
export { tensor, isTensor, type Tensor } from './tensor.js';
export { cloneState, type StateDict, type StateValue, type Json } from './state-dict.js';
export { CheckpointState, type CheckpointStateInit, type LoadInfo, type UnreadableTier } from './state.js';
export { CheckpointLoadConfig, type CheckpointLoadConfigOptions } from './load-config.js';
export { CheckpointTier, type CheckpointBackend, type PendingSave } from './tier.js';
export { MemoryLimitExceeded } from './errors.js';
export { MemorySnapshotBackend, type MemorySnapshotBackendOptions } from './memory-backend.js';
export { NVMeBackend, type NVMeBackendOptions } from './nvme-backend.js';
export { S3Backend, type S3BackendOptions } from './s3-backend.js';
export type { S3Settings } from './s3-settings.js';
export { CheckpointConfig, type CheckpointConfigOptions, type AsyncSavePolicy, type KeepLastN } from './config.js';
export { checkpointConfigFromConfig, checkpointManagerFromConfig, type CheckpointFromConfigOptions } from './from-config.js';
export { CheckpointManager, type CheckpointManagerOptions, type LoadCheckpointOptions, type AsyncCapableBackend } from './manager.js';
export { AsyncCallsQueue, AsyncRequest, singleRankAgreement, defaultAgreement, type AsyncCallsQueueOptions, type AsyncRequestInit, type FinalizeFn, type RankAgreement } from './async-queue.js';
export { AsyncCheckpointer, type AsyncCheckpointerOptions } from './async-checkpointer.js';
export { PersistentAsyncCaller } from './persistent-caller.js';
export { writerFunction, type WriterFunction } from './writer-function.js';
export { StagingPool } from './staging.js';
export { saveStateDict, loadStateDict } from './files.js';
export { checkpointName, stepOfName, sortByStep } from './names.js';
export { registerStateAdapter, stateAdapterFor, type StateAdapter } from './state-adapters.js';
export { createCheckpointState, loadCheckpointToModel, unwrapModel, WRAPPED_MODEL, type CreateCheckpointStateOptions, type LoadCheckpointToModelOptions, type Stateful } from './create-state.js';
export { FORMAT_NAME, FORMAT_VERSION, MANIFEST_FILE, COMMIT_FILE, type Manifest } from './manifest.js';
// The format's building blocks, for tiers written elsewhere (an agent-held or peer-replicated MEMORY tier):
// plan a state into safetensors files + sources, build its manifest, and verify/assemble it back.
export { planCheckpoint, buildManifest, type CheckpointPlan, type PlannedFile, type PlannedTensor, type WrittenChecksums } from './plan.js';
export { assembleState, checkManifestBounds } from './verify.js';
export { parseManifest, parseCommit } from './manifest.js';
export { crc32, crcHex } from './crc32.js';
// The agent-held MEMORY tier (`eh run`): the worker's backend, and the IPC contract the agent implements.
export { AgentMemoryBackend, describeCopy, type AgentMemoryBackendOptions } from './agent-memory/backend.js';
export { agentHoldsMemory } from './agent-memory/client.js';
export { isSnapshotRequest, type SnapshotRequest, type SnapshotReply, type SnapshotOp, type SnapshotListing, type SnapshotHolder, type OpenedSnapshot } from './agent-memory/protocol.js';
export { LocalCheckpointManager, BasicTensorAwareStateDict, CliqueReplicationStrategy, type LocalCheckpointManagerOptions, type LocalLoadResult, type LocalPartId, type FindLatestReport, type TensorAwareStateDict, type CliqueReplicationStrategyOptions, type ReplicationStrategy } from './local/index.js';
