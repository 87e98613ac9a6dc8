import { readFileSync, writeFileSync, mkdirSync, renameSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { describeError } from '../errors/index.js';
import { SLURM_TIME } from '../experiments/index.js';
import { DEFAULT_TEMPLATE } from './default-template.js';
import { TemplateError } from './errors.js';
import { REQUEUE_EXIT_CODE } from './requeue.js';

/** The values a template is filled with (each becomes the {{UPPER_CASE}} placeholder of its name). */
export interface TemplateContext {
  jobName: string;
  account?: string;
  partition?: string;
  qos?: string;
  nodes?: number;
  ntasksPerNode?: number;
  /** 0 (the default) leaves the --gpus-per-node line out. */
  gpusPerNode?: number;
  cpusPerTask?: number;
  mem?: string;
  time?: string;
  experimentName?: string;
  /** The training script `eh run` starts. */
  scriptPath?: string;
  /** The experiment's config file, passed to the script. */
  configName?: string;
  outputFile?: string;
  /** Unset: stderr goes to the output file. */
  errorFile?: string;
  experimentDir?: string;
  /** The directory the job runs in (the project root, or the experiment's code snapshot). */
  codeDir?: string;
  projectRoot?: string;
  /** Signal the batch shell gets before the time limit (default USR1). */
  signal?: string;
  /** Seconds before the time limit (default 60); 0 leaves the --signal line out (no early signal). */
  signalTime?: number;
  nprocPerNode?: number;
  maxRestarts?: number;
  gracePeriod?: number;
  /** How to call eh (default ["eh"]; e.g. ["node", "/path/dist/cli/main.js"]). */
  ehCommand?: string[];
  scriptArgs?: string[];
  requeueExitCode?: number;
  /** Further placeholders of a custom template. */
  variables?: Record<string, string | number>;
}

type Kind = 'name' | 'int' | 'number' | 'mem' | 'time' | 'signal' | 'path' | 'list' | 'text';

interface VariableSpec {
  field: keyof TemplateContext;
  kind: Kind;
  /** A directive line holding it is dropped when it is unset. */
  optional?: boolean;
  default?: string | number | string[];
}

/** Every built-in placeholder: its context field, what it may hold and its default. */
export const TEMPLATE_VARIABLES: Readonly<Record<string, VariableSpec>> = {
  JOB_NAME: { field: 'jobName', kind: 'name' },
  ACCOUNT: { field: 'account', kind: 'name', optional: true },
  PARTITION: { field: 'partition', kind: 'name', optional: true },
  QOS: { field: 'qos', kind: 'name', optional: true },
  NODES: { field: 'nodes', kind: 'int', default: 1 },
  NTASKS_PER_NODE: { field: 'ntasksPerNode', kind: 'int', default: 1 },
  GPUS_PER_NODE: { field: 'gpusPerNode', kind: 'int', optional: true },
  CPUS_PER_TASK: { field: 'cpusPerTask', kind: 'int', default: 1 },
  MEM: { field: 'mem', kind: 'mem', default: '4G' },
  TIME: { field: 'time', kind: 'time', default: '01:00:00' },
  EXPERIMENT_NAME: { field: 'experimentName', kind: 'name' },
  SCRIPT_PATH: { field: 'scriptPath', kind: 'path' },
  CONFIG_NAME: { field: 'configName', kind: 'path' },
  OUTPUT_FILE: { field: 'outputFile', kind: 'path' },
  ERROR_FILE: { field: 'errorFile', kind: 'path', optional: true },
  EXPERIMENT_DIR: { field: 'experimentDir', kind: 'path' },
  CODE_DIR: { field: 'codeDir', kind: 'path' },
  PROJECT_ROOT: { field: 'projectRoot', kind: 'path' },
  SIGNAL: { field: 'signal', kind: 'signal', default: 'USR1' },
  SIGNAL_TIME: { field: 'signalTime', kind: 'int', optional: true, default: 60 },
  NPROC_PER_NODE: { field: 'nprocPerNode', kind: 'int', default: 1 },
  MAX_RESTARTS: { field: 'maxRestarts', kind: 'int', default: 3 },
  GRACE_PERIOD: { field: 'gracePeriod', kind: 'number', default: 30 },
  EH_COMMAND: { field: 'ehCommand', kind: 'list', default: ['eh'] },
  SCRIPT_ARGS: { field: 'scriptArgs', kind: 'list', default: [] },
  REQUEUE_EXIT_CODE: { field: 'requeueExitCode', kind: 'int', default: REQUEUE_EXIT_CODE },
};

/** Directives a template must have: without them a job has no name, no limit to be signalled before, or no log. */
export const REQUIRED_DIRECTIVES = ['--job-name', '--time', '--output'] as const;

const CHECKS: Record<Exclude<Kind, 'list' | 'text'>, { test: (v: string) => boolean; want: string }> = {
  name: { test: (v) => /^[A-Za-z0-9][A-Za-z0-9._+=-]*$/.test(v) && v.length <= 200, want: 'letters, digits and . _ - + = (starting with a letter or digit)' },
  int: { test: (v) => /^\d+$/.test(v), want: 'a whole number >= 0' },
  number: { test: (v) => /^\d+(\.\d+)?$/.test(v), want: 'a number >= 0' },
  mem: { test: (v) => /^\d+[KMGT]?$/.test(v), want: 'a size such as 4G or 16000M' },
  time: { test: (v) => SLURM_TIME.test(v), want: 'an sbatch time such as 01:00:00, 30 or 1-00:00:00' },
  signal: { test: (v) => /^[A-Z][A-Z0-9]*$/.test(v), want: 'a signal name such as USR1' },
  path: { test: () => true, want: 'a path' },
};

// Nothing may bring a line break (a new command) or another control character into the script.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;
// A directive is read by sbatch, not by a shell; still, nothing there may look like shell or split the value.
const DIRECTIVE_SAFE = /^[A-Za-z0-9._+=/:@%,-]+$/;
const SHELL_PLAIN = /^[A-Za-z0-9._+=/:@%,-]+$/;
const PLACEHOLDER = /\{\{(.*?)\}\}/g;
const NAME = /^\s*([A-Z][A-Z0-9_]*)\s*$/;

export function shellQuote(s: string): string {
  return SHELL_PLAIN.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

type LineKind = 'directive' | 'comment' | 'shell';

interface ParsedLine {
  text: string;
  kind: LineKind;
  names: string[];
}

export interface TemplateValidation {
  valid: boolean;
  errors: string[];
  warnings: string[];
  /** Every placeholder name the template uses. */
  placeholders: string[];
}

export interface SBATCHTemplateEngineOptions {
  templatePath?: string;
  templateString?: string;
}

/**
 * Fills an SBATCH template's {{NAME}} placeholders. Only plain placeholders exist (no conditionals, loops or
 * filters: those are a TemplateError naming the line). Values are checked per placeholder (a job name holds only
 * name characters, a time is an sbatch time, ...), none may hold a line break or control character, values on
 * `#SBATCH` lines may hold no shell or space characters, and values on shell lines are single-quoted where needed,
 * so no value can add a command. A `#SBATCH` line whose optional placeholder (ACCOUNT, PARTITION, QOS,
 * GPUS_PER_NODE, ERROR_FILE, SIGNAL_TIME) is unset is left out.
 */
export class SBATCHTemplateEngine {
  readonly template: string;
  readonly templatePath?: string;
  private readonly lines: ParsedLine[];

  constructor(options: SBATCHTemplateEngineOptions = {}) {
    if (options.templatePath !== undefined && options.templateString !== undefined) {
      throw new TemplateError('Give SBATCHTemplateEngine a templatePath or a templateString, not both', { suggestions: ['Pass one of them (neither: the default template).'] });
    }
    if (options.templatePath !== undefined) {
      this.templatePath = resolve(options.templatePath);
      try {
        this.template = readFileSync(this.templatePath, 'utf8');
      } catch (err) {
        throw new TemplateError(`Cannot read SBATCH template ${this.templatePath}: ${describeError(err)}`, { templatePath: this.templatePath, suggestions: ['Check the path, or leave it out to use the default template.'], cause: err });
      }
    } else this.template = options.templateString ?? DEFAULT_TEMPLATE;
    this.lines = this.parse();
  }

  private where(line?: number): string {
    return `${this.templatePath ?? 'the SBATCH template'}${line !== undefined ? `, line ${line}` : ''}`;
  }

  private parse(): ParsedLine[] {
    return this.template.split('\n').map((text, i) => {
      const n = i + 1;
      const kind: LineKind = /^#SBATCH\s/.test(text) ? 'directive' : /^\s*#/.test(text) ? 'comment' : 'shell';
      if (/\{%|%\}/.test(text)) throw new TemplateError(`${this.where(n)}: unsupported template syntax ${JSON.stringify(text.trim())}`, { templatePath: this.templatePath, line: n, suggestions: ['Templates have only {{NAME}} placeholders: no {% %} blocks, conditionals or loops.'] });
      const names: string[] = [];
      for (const m of text.matchAll(PLACEHOLDER)) {
        const name = NAME.exec(m[1]);
        if (name === null) {
          throw new TemplateError(`${this.where(n)}: unsupported placeholder ${m[0]}`, {
            templatePath: this.templatePath,
            line: n,
            suggestions: ['Write placeholders as {{UPPER_CASE_NAME}}: no filters, defaults, conditionals ({{#if}}) or expressions.'],
          });
        }
        names.push(name[1]);
        const before = text[m.index - 1];
        const after = text[m.index + m[0].length];
        if (kind === 'shell' && (before === '"' || before === "'" || after === '"' || after === "'")) {
          throw new TemplateError(`${this.where(n)}: placeholder ${m[0]} is inside quotes`, {
            templatePath: this.templatePath,
            line: n,
            suggestions: [`Write ${m[0]} without quotes around it: the engine quotes each value itself (quotes around it would let a value break out).`],
          });
        }
      }
      const rest = text.replace(PLACEHOLDER, '');
      if (rest.includes('{{') || rest.includes('}}')) {
        throw new TemplateError(`${this.where(n)}: an unclosed "{{" or a stray "}}"`, { templatePath: this.templatePath, line: n, suggestions: ['Close every placeholder: {{NAME}}.'] });
      }
      return { text, kind, names };
    });
  }

  /** Placeholder names the template uses, in order of first use. */
  getPlaceholders(): string[] {
    return [...new Set(this.lines.flatMap((l) => l.names))];
  }

  private valueOf(name: string, context: TemplateContext | undefined): string | number | string[] | undefined {
    const spec = TEMPLATE_VARIABLES[name];
    if (spec === undefined) return context?.variables?.[name];
    const v = context?.[spec.field] as string | number | string[] | undefined;
    if (name === 'GPUS_PER_NODE' && v === 0) return undefined;
    if (name === 'SIGNAL_TIME' && v === 0) return undefined;
    return v ?? spec.default;
  }

  private checkValue(name: string, v: string | number | string[], kind: LineKind, line: number): string | undefined {
    const spec = TEMPLATE_VARIABLES[name];
    const k: Kind = spec?.kind ?? 'text';
    const items = Array.isArray(v) ? v : [v];
    if (k === 'list' && !Array.isArray(v)) return `${name} must be a list of strings`;
    if (k !== 'list' && Array.isArray(v)) return `${name} must be a single value, not a list`;
    for (const item of items) {
      if (typeof item !== 'string' && !(typeof item === 'number' && Number.isFinite(item))) return `${name} must be a string or number, got ${typeof item}`;
      const s = String(item);
      if (CONTROL.test(s)) return `${name} holds a line break or control character (${JSON.stringify(s)}): refused, it could add a command to the script`;
      if (k !== 'list' && k !== 'text') {
        const c = CHECKS[k];
        if (!c.test(s)) return `${name} = ${JSON.stringify(s)}: expected ${c.want}`;
      }
      if (kind === 'directive' && !DIRECTIVE_SAFE.test(s)) return `${name} = ${JSON.stringify(s)} on the #SBATCH line ${line}: directive values may hold only letters, digits and . _ + = / : @ % , - (no spaces, quotes or shell characters)`;
    }
    if (kind === 'directive' && Array.isArray(v)) return `${name} is a list and cannot go on the #SBATCH line ${line}`;
    return undefined;
  }

  /**
   * Checks the template (and, with a context, the values): the shebang, the required directives, unknown
   * placeholders, and with a context unfilled placeholders and values that are not allowed.
   */
  validate(context?: TemplateContext): TemplateValidation {
    const errors: string[] = [];
    const warnings: string[] = [];
    if (!this.lines[0]?.text.startsWith('#!')) errors.push(`${this.where(1)}: the first line must be a shebang such as #!/bin/bash`);
    const directives = this.lines.filter((l) => l.kind === 'directive').map((l) => l.text);
    for (const d of REQUIRED_DIRECTIVES) {
      if (!directives.some((t) => new RegExp(`^#SBATCH\\s+${d}[=\\s]`).test(t))) errors.push(`${this.where()}: the required directive #SBATCH ${d}=... is missing`);
    }
    if (!directives.some((t) => /--signal[=\s]/.test(t))) warnings.push(`${this.where()}: no #SBATCH --signal: a job at its time limit is killed without an emergency checkpoint (it resumes from the last regular one)`);
    this.lines.forEach((l, i) => {
      for (const name of l.names) {
        const known = name in TEMPLATE_VARIABLES || (context?.variables !== undefined && name in context.variables);
        if (!known) {
          errors.push(`${this.where(i + 1)}: unknown placeholder {{${name}}}`);
          continue;
        }
        if (context === undefined) continue;
        const v = this.valueOf(name, context);
        if (v === undefined) {
          if (!(l.kind === 'directive' && TEMPLATE_VARIABLES[name]?.optional === true)) errors.push(`${this.where(i + 1)}: placeholder {{${name}}} is not filled (set ${TEMPLATE_VARIABLES[name]?.field ?? `variables.${name}`} in the context)`);
          continue;
        }
        const bad = this.checkValue(name, v, l.kind, i + 1);
        if (bad !== undefined) errors.push(bad);
      }
    });
    return { valid: errors.length === 0, errors: [...new Set(errors)], warnings, placeholders: this.getPlaceholders() };
  }

  /** The script for `context`; throws a TemplateError listing every problem validate() finds. */
  previewRenderedScript(context: TemplateContext): string {
    const check = this.validate(context);
    if (!check.valid) {
      throw new TemplateError(check.errors.length === 1 ? check.errors[0] : `The SBATCH template cannot be rendered (${check.errors.length} problems):\n${check.errors.map((e) => `  - ${e}`).join('\n')}`, {
        templatePath: this.templatePath,
        suggestions: ['Fix the template or the values named above; docs/api/slurm.md lists every placeholder and what it may hold.'],
      });
    }
    const out: string[] = [];
    for (const l of this.lines) {
      if (l.kind === 'directive' && l.names.some((n) => this.valueOf(n, context) === undefined)) continue;
      out.push(
        l.text.replace(PLACEHOLDER, (_, inner: string) => {
          const name = NAME.exec(inner)![1];
          const v = this.valueOf(name, context)!;
          const items = (Array.isArray(v) ? v : [v]).map(String);
          return l.kind === 'shell' ? items.map(shellQuote).join(' ') : items.join(' ');
        }),
      );
    }
    return out.join('\n');
  }

  /** Renders the script to `outputPath` (made executable, written atomically) and returns the path. */
  generateSbatchScript(context: TemplateContext, outputPath: string): string {
    const text = this.previewRenderedScript(context);
    const file = resolve(outputPath);
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, text, { mode: 0o755 });
    renameSync(tmp, file);
    return file;
  }
}
