import { join } from 'node:path';
import type { LoggingConfig } from '../config.js';
import { CompositeLogger, NULL_LOGGER } from './composite-logger.js';
import { ConsoleLogger } from './console-logger.js';
import { JsonLinesLogger } from './json-logger.js';
import { TensorBoardLogger } from './tensorboard-logger.js';
import type { TrainerLogger } from './types.js';

/** The logger a LoggingConfig asks for, on this rank (rank 0 only unless `allRanks`). */
export function createLogger(config: LoggingConfig, rank: number): TrainerLogger {
  if (rank !== 0 && !config.allRanks) return NULL_LOGGER;
  const dir = config.allRanks ? join(config.logDir, `rank${rank}`) : config.logDir;
  const make = (type: 'console' | 'json' | 'tensorboard'): TrainerLogger => {
    if (type === 'console') return new ConsoleLogger({ progressBar: config.progressBar, logEveryNSteps: config.logEveryNSteps });
    if (type === 'json') return new JsonLinesLogger({ path: join(dir, 'metrics.jsonl'), logEveryNSteps: config.logEveryNSteps });
    return new TensorBoardLogger({ logDir: config.tensorboardDir ?? dir, logEveryNSteps: config.logEveryNSteps });
  };
  if (config.loggerType !== 'composite') return make(config.loggerType);
  return new CompositeLogger(config.compositeLoggers.map(make));
}
