export type { StepLog, TrainerLogger } from './types.js';
export { ConsoleLogger, type ConsoleLoggerOptions } from './console-logger.js';
export { JsonLinesLogger, type JsonLoggerOptions } from './json-logger.js';
export { TensorBoardLogger } from './tensorboard-logger.js';
export { CompositeLogger, NULL_LOGGER } from './composite-logger.js';
export { createLogger } from './create.js';
export { TensorBoardWriter, frameRecord, maskedCrc32c, type TensorBoardWriterOptions } from './tensorboard/index.js';
