import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { EH, ROOT, startAgent, tempDir, waitFor } from '../agent/harness.js';
import { JobMonitor, MonitorServer } from '../../src/metrics/index.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = process.env.EH_TEST_ARTIFACTS ?? join(ROOT, 'test-artifacts');
const skip = existsSync(CHROMIUM) ? false : process.env.CI === 'true' ? false : `no ${CHROMIUM} (apt-get install chromium; CI installs it)`;

async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

test('the dashboard of a real run shows the loss, marks the failure and the worker table shows the restart', { skip, timeout: 120_000 }, async () => {
  const dir = tempDir('eh-dashboard-');
  const browser = await launch();
  try {
    const agent = startAgent(
      ['--standalone', '--nproc-per-node', '2', '--max-restarts', '2', '--log-dir', join(dir.path, 'logs'), '--dashboard-port', '0', '--metrics-port', '0', join(ROOT, 'test/metrics/fixtures/reporting-worker.mjs')],
      { STATE_DIR: dir.path, STEPS: '150', STEP_MS: '80', KILL_AT: '25' },
    );
    const url = await waitFor('the dashboard address', () => /dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(agent.stderr())?.[1], 30_000);
    const metricsUrl = /metrics: (http:\S+)/.exec(agent.stderr())?.[1];
    assert.ok(metricsUrl, 'the metrics address is printed');
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 }, bypassCSP: true });
    await page.goto(url);
    // The page updates live: wait until the restarted workers have reported steps again.
    // (Browser-side code as strings: this file is type-checked without the DOM library.)
    await page.waitForFunction(
      `(() => {
        const failed = [...document.querySelectorAll('#workers tbody tr')].find((r) => r.dataset.failures === '1');
        const world = document.getElementById('world-plot');
        const loss = document.getElementById('loss-plot');
        return failed !== undefined && Number(world.dataset.failures) >= 1 && Number(loss.dataset.points) >= 30 && document.querySelectorAll('#events li.recovery').length >= 1;
      })()`,
      undefined,
      { timeout: 60_000 },
    );
    const table = await page.locator('#workers tbody').innerText();
    assert.match(table, /^1\s+\w+\s+\d+/m, `rank 1 listed: ${table}`);
    assert.match(await page.locator('#summary').innerText(), /restarts: 1 of 2/);
    assert.match(await page.locator('#events').innerText(), /rank 1 failed \(SIGKILL\)/);
    assert.ok(Number(await page.locator('#loss-plot').getAttribute('data-points')) >= 30);
    assert.ok((await page.locator('#loss-plot canvas').count()) >= 1, 'uPlot drew the loss');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    // Prometheus scrape of the same running job.
    const text = await (await fetch(metricsUrl)).text();
    assert.match(text, /eh_restarts_total\{job="elastic-training",node="[^"]+"\} 1/);
    assert.match(text, /eh_recovery_seconds_count\{job="elastic-training",node="[^"]+",tier="nvme"\} 1/);
    assert.match(text, /eh_step\{job="elastic-training",node="[^"]+",rank="1"\} \d+/);
    const { code } = await agent.exited(90_000);
    assert.equal(code, 0, agent.stderr());
    // After the job: eh status reads the same story from the log dir.
    const status = await new Promise<string>((resolve) => {
      const c = spawn(process.execPath, [EH, 'status', '--log-dir', join(dir.path, 'logs')], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.on('exit', () => resolve(out));
    });
    assert.match(status, /: succeeded/);
    assert.match(status, /restarts 1 of 2, failures 1/);
    assert.match(status, /rank 1 +succeeded +step 150/);
    assert.match(status, /nvme +step 150/);
  } finally {
    await browser.close();
    dir.remove();
  }
});

test('strings from the job are shown as text, never run as HTML', { skip, timeout: 60_000 }, async () => {
  const monitor = new JobMonitor({ job: '<script>window.__pwned = 1</script>', node: '<img src=x onerror="window.__pwned = 2">' });
  monitor.record({ type: 'job-start', maxRestarts: 1, nprocPerNode: 1, nnodes: '1' });
  monitor.record({ type: 'workers-started', restartCount: 0, ranks: [0] });
  monitor.record({ type: 'failure', rank: 0, exitCode: 1, signal: null, reason: 'Error: <img src=y onerror="window.__pwned = 3">' });
  monitor.workerReport(0, { step: 1, loss: 1, checkpoints: [{ op: 'save', tier: '<b>tier</b>', seconds: 0.1, bytes: 10 }] });
  const server = new MonitorServer({ monitor, dashboard: true, port: 0 });
  const { url } = await server.start();
  const browser = await launch();
  try {
    // CSP off: the page's own escaping is what is tested, not the header behind it.
    const page = await browser.newPage({ bypassCSP: true });
    await page.goto(url);
    await page.waitForFunction(`document.querySelectorAll('#events li').length >= 2`);
    assert.equal(await page.evaluate('window.__pwned'), undefined);
    assert.match(await page.locator('#job').innerText(), /<script>window.__pwned = 1<\/script>/);
    assert.match(await page.locator('#events').innerText(), /onerror="window.__pwned = 3"/);
    assert.match(await page.locator('#checkpoints').innerText(), /<b>tier<\/b>/);
    assert.equal(await page.locator('#job script, #events img, #checkpoints b').count(), 0);
  } finally {
    await browser.close();
    await server.close();
    monitor.close();
  }
});

test('eh dashboard --log-dir serves a finished job from its files, on loopback; a missing log dir is a clear error', { timeout: 60_000 }, async () => {
  const dir = tempDir('eh-dashboard-cli-');
  try {
    const m = new JobMonitor({ job: 'done-job', node: 'n1', logDir: dir.path, stepRecordIntervalMs: 0 });
    m.record({ type: 'job-start', maxRestarts: 0, nprocPerNode: 1, nnodes: '1' });
    m.record({ type: 'workers-started', restartCount: 0, ranks: [0] });
    for (let s = 1; s <= 20; s++) m.workerReport(0, { step: s, loss: 1 / s });
    m.record({ type: 'job-end', outcome: 'succeeded', exitCode: 0 });
    m.close();
    const child = spawn(process.execPath, [EH, 'dashboard', '--log-dir', dir.path, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const url = await waitFor('the address', () => /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)?.[1], 20_000);
      const snap = (await (await fetch(`${url}api/snapshot`)).json()) as { job: string; steps: unknown[]; outcome: string };
      assert.equal(snap.job, 'done-job');
      assert.equal(snap.steps.length, 20);
      assert.equal(snap.outcome, 'succeeded');
      const page = await (await fetch(url)).text();
      assert.match(page, /uPlot\.iife\.min\.js/);
      assert.doesNotMatch(page, /https?:\/\/(?!127)/, 'nothing from a CDN');
      assert.equal((await fetch(`${url}uPlot.iife.min.js`)).status, 200);
    } finally {
      child.kill('SIGTERM');
    }
    const bad = spawn(process.execPath, [EH, 'dashboard', '--log-dir', join(dir.path, 'nope')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    bad.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => bad.on('exit', (c) => r(c)));
    assert.equal(code, 2);
    assert.match(err, /no job events in .*nope/);
  } finally {
    dir.remove();
  }
});
