import { ConfigurationError, ElasticTrainingError, type ConfigurationErrorOptions, type ElasticErrorOptions } from '../errors/index.js';

export interface SLURMErrorOptions extends ElasticErrorOptions {
  /** The command that failed, e.g. `sbatch --parsable job.sbatch`. */
  command?: string;
  exitCode?: number | null;
  /** What the command printed on stderr. */
  stderr?: string;
}

/** A SLURM command failed or is missing. */
export class SLURMError extends ElasticTrainingError {
  readonly command?: string;
  readonly exitCode?: number | null;
  readonly stderr?: string;

  constructor(message: string, options: SLURMErrorOptions = {}) {
    super(message, options);
    this.command = options.command;
    this.exitCode = options.exitCode;
    this.stderr = options.stderr;
  }
}

/** sbatch refused a job; `sbatchMessage` is sbatch's own words. */
export class JobSubmissionError extends SLURMError {
  readonly sbatchMessage: string;
  readonly experimentName?: string;

  constructor(message: string, options: SLURMErrorOptions & { sbatchMessage: string; experimentName?: string }) {
    super(message, options);
    this.sbatchMessage = options.sbatchMessage;
    this.experimentName = options.experimentName;
  }
}

export interface TemplateErrorOptions extends ConfigurationErrorOptions {
  templatePath?: string;
  /** 1-based line of the template, when the problem has one. */
  line?: number;
}

/** An SBATCH template that cannot be rendered: unsupported syntax, unknown or unfilled placeholders, unsafe values. */
export class TemplateError extends ConfigurationError {
  readonly templatePath?: string;
  readonly line?: number;

  constructor(message: string, options: TemplateErrorOptions = {}) {
    super(message, options);
    this.templatePath = options.templatePath;
    this.line = options.line;
  }
}
