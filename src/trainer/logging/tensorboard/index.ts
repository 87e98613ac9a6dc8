/** TensorBoard event files (scalars, SessionLog START on resume), framed and CRC-checked as TensorBoard reads them. */
export { TensorBoardWriter, type TensorBoardWriterOptions } from './writer.js';
export { frameRecord, maskedCrc32c } from './record.js';
