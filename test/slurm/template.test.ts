import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_TEMPLATE, SBATCHTemplateEngine, TemplateError, type TemplateContext } from '../../src/slurm/index.js';

const ctx: TemplateContext = {
  jobName: 'lr_search_lr1.0e-4',
  experimentName: 'lr_search_lr1.0e-4',
  scriptPath: 'train.ts',
  configName: '/exp/lr_search/config.yaml',
  outputFile: '/exp/lr_search/slurm_%j.out',
  experimentDir: '/exp/lr_search',
  codeDir: '/project',
  projectRoot: '/project',
  time: '02:00:00',
  partition: 'gpu',
};

test('the default template: eh run, the early signal to the batch shell, requeue, append mode; optional lines left out', () => {
  const s = new SBATCHTemplateEngine().previewRenderedScript(ctx);
  assert.match(s, /^#!\/bin\/bash\n/);
  assert.match(s, /^#SBATCH --job-name=lr_search_lr1\.0e-4$/m);
  assert.match(s, /^#SBATCH --signal=B:USR1@60$/m);
  assert.match(s, /^#SBATCH --requeue$/m);
  assert.match(s, /^#SBATCH --open-mode=append$/m);
  assert.match(s, /^#SBATCH --partition=gpu$/m);
  assert.match(s, /^#SBATCH --time=02:00:00$/m);
  assert.doesNotMatch(s, /--account|--qos|--gpus-per-node|--error/, 'unset optional directives are dropped');
  assert.match(s, /EH=\(eh\)/);
  assert.match(s, /"\$\{EH\[@\]\}" run --standalone/);
  assert.match(s, /train\.ts \/exp\/lr_search\/config\.yaml/);
  assert.match(s, /scontrol requeue "\$target"/);
  assert.match(s, /SLURM_ARRAY_JOB_ID\}_\$\{SLURM_ARRAY_TASK_ID/);
  assert.doesNotMatch(s, /\{\{/);
  // bash accepts it.
  const dir = mkdtempSync(join(tmpdir(), 'eh-tpl-'));
  try {
    writeFileSync(join(dir, 'job.sh'), s);
    const r = spawnSync('bash', ['-n', join(dir, 'job.sh')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the signal is configurable; signalTime 0 leaves the early signal out; GPUs appear when asked for', () => {
  const e = new SBATCHTemplateEngine();
  assert.match(e.previewRenderedScript({ ...ctx, signal: 'USR2', signalTime: 120 }), /^#SBATCH --signal=B:USR2@120$/m);
  assert.match(e.previewRenderedScript({ ...ctx, signal: 'USR2' }), /STOP_SIGNAL=USR2/);
  assert.doesNotMatch(e.previewRenderedScript({ ...ctx, signalTime: 0 }), /--signal/);
  assert.match(e.previewRenderedScript({ ...ctx, gpusPerNode: 4 }), /^#SBATCH --gpus-per-node=4$/m);
});

test('generateSbatchScript writes an executable file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'eh-tpl-'));
  try {
    const p = new SBATCHTemplateEngine().generateSbatchScript(ctx, join(dir, 'sub', 'job.sbatch'));
    assert.equal(readFileSync(p, 'utf8'), new SBATCHTemplateEngine().previewRenderedScript(ctx));
    assert.ok((statSync(p).mode & 0o111) !== 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('validation reports missing required directives, unknown and unfilled placeholders', () => {
  const e = new SBATCHTemplateEngine({ templateString: '#!/bin/bash\n#SBATCH --job-name={{JOB_NAME}}\necho {{WHAT}} {{EXPERIMENT_DIR}}\n' });
  const v = e.validate({ jobName: 'x' });
  assert.equal(v.valid, false);
  assert.ok(v.errors.some((m) => /#SBATCH --time=\.\.\. is missing/.test(m)));
  assert.ok(v.errors.some((m) => /#SBATCH --output=\.\.\. is missing/.test(m)));
  assert.ok(v.errors.some((m) => /line 3: unknown placeholder \{\{WHAT\}\}/.test(m)));
  assert.ok(v.errors.some((m) => /\{\{EXPERIMENT_DIR\}\} is not filled \(set experimentDir/.test(m)));
  assert.ok(v.warnings.some((m) => /no #SBATCH --signal/.test(m)));
  assert.deepEqual(v.placeholders, ['JOB_NAME', 'WHAT', 'EXPERIMENT_DIR']);
  assert.throws(() => e.previewRenderedScript({ jobName: 'x' }), (err: unknown) => err instanceof TemplateError && /4 problems|problems/.test(err.message));
  // Custom placeholders come from variables.
  const custom = new SBATCHTemplateEngine({ templateString: '#!/bin/bash\n#SBATCH --job-name={{JOB_NAME}}\n#SBATCH --time=1\n#SBATCH --output=o\necho {{GREETING}}\n' });
  assert.match(custom.previewRenderedScript({ jobName: 'x', variables: { GREETING: 'hello world' } }), /echo 'hello world'/);
  assert.equal(new SBATCHTemplateEngine({ templateString: 'echo\n#SBATCH --job-name=a\n#SBATCH --time=1\n#SBATCH --output=o' }).validate().errors[0].includes('shebang'), true);
});

test('unsupported syntax is a TemplateError naming the line', () => {
  const bad = (t: string, re: RegExp) =>
    assert.throws(() => new SBATCHTemplateEngine({ templateString: `#!/bin/bash\n${t}\n` }), (e: unknown) => e instanceof TemplateError && e.line === 2 && re.test(e.message));
  bad('{% if GPU %}', /unsupported template syntax/);
  bad('echo {{#if GPUS}}', /unsupported placeholder/);
  bad('echo {{job_name}}', /unsupported placeholder/);
  bad('echo {{JOB_NAME | upper}}', /unsupported placeholder/);
  bad('echo {{JOB_NAME', /unclosed/);
  bad('echo "{{SCRIPT_PATH}}"', /inside quotes/);
  assert.throws(() => new SBATCHTemplateEngine({ templatePath: '/nonexistent/t.sbatch' }), (e: unknown) => e instanceof TemplateError && /Cannot read SBATCH template/.test(e.message));
});

test('injection attempts: names with ; or newlines are refused, shell values are quoted, directives take no shell characters', () => {
  const e = new SBATCHTemplateEngine();
  const refused = (c: Partial<TemplateContext>, re: RegExp) => assert.throws(() => e.previewRenderedScript({ ...ctx, ...c }), (err: unknown) => err instanceof TemplateError && re.test(err.message));
  refused({ jobName: 'x; rm -rf ~' }, /JOB_NAME = "x; rm -rf ~": expected letters, digits/);
  refused({ jobName: 'x\n#SBATCH --uid=0' }, /JOB_NAME holds a line break/);
  refused({ experimentName: 'a$(id)' }, /EXPERIMENT_NAME/);
  refused({ time: '1:00:00; reboot' }, /TIME/);
  refused({ mem: '4G --uid=0' }, /MEM/);
  refused({ outputFile: '/tmp/o $(id).out' }, /OUTPUT_FILE .* directive values may hold only/);
  refused({ scriptPath: 'train.ts\nrm -rf /' }, /SCRIPT_PATH holds a line break/);
  refused({ signal: 'USR1;id' }, /SIGNAL/);
  refused({ nodes: -1 as number }, /NODES/);
  // A path with spaces and quotes on a shell line: quoted, so it stays one word.
  const s = e.previewRenderedScript({ ...ctx, scriptPath: "my dir/it's; $(id).ts", scriptArgs: ['--name', 'a b', '`id`'] });
  assert.match(s, /'my dir\/it'\\''s; \$\(id\)\.ts'/);
  const dir = mkdtempSync(join(tmpdir(), 'eh-tpl-'));
  try {
    // Run the launch line's words through bash to see them as the shell will.
    const line = s.split('\n').find((l) => l.startsWith('launch+=('))!;
    writeFileSync(join(dir, 'words.sh'), `launch=()\n${line}\nprintf '%s\\n' "\${launch[@]}"\n`);
    const r = spawnSync('bash', [join(dir, 'words.sh')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const words = r.stdout.trimEnd().split('\n');
    assert.deepEqual(words.slice(-5), ["my dir/it's; $(id).ts", '/exp/lr_search/config.yaml', '--name', 'a b', '`id`']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the default template text is exported for users to start their own from', () => {
  assert.match(DEFAULT_TEMPLATE, /\{\{JOB_NAME\}\}/);
  assert.equal(new SBATCHTemplateEngine({ templateString: DEFAULT_TEMPLATE }).validate().valid, true);
});
