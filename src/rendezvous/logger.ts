/** Where the store reports refusals and faults; the default writes one line to stderr. */
export type StoreLogger = (message: string) => void;

export const stderrLogger: StoreLogger = (message) => {
  process.stderr.write(`[eh store] ${message}\n`);
};
