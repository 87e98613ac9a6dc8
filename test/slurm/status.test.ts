import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseJobState, parseSacct, parseScontrol, parseSqueue } from '../../src/slurm/index.js';

test('job states: full names, short codes, CANCELLED by N, unknown', () => {
  assert.equal(parseJobState('RUNNING'), 'RUNNING');
  assert.equal(parseJobState('CANCELLED by 0'), 'CANCELLED');
  assert.equal(parseJobState('cancelled+'), 'CANCELLED');
  assert.equal(parseJobState('PD'), 'PENDING');
  assert.equal(parseJobState('TO'), 'TIMEOUT');
  assert.equal(parseJobState('PREEMPTED'), 'PREEMPTED');
  assert.equal(parseJobState('REQUEUED'), 'REQUEUED');
  assert.equal(parseJobState('what'), 'UNKNOWN');
});

test('squeue lines (one per array task)', () => {
  const s = parseSqueue('12_0|COMPLETED|None|0:03|2026-12-02T07:32:36|2026-12-02T07:32:39|seeds\n12_2|PENDING|JobArrayTaskLimit|0:00|N/A|N/A|seeds\n');
  assert.equal(s.length, 2);
  assert.deepEqual(s[0], { jobId: '12_0', state: 'COMPLETED', reason: undefined, elapsed: '0:03', startTime: '2026-12-02T07:32:36', endTime: '2026-12-02T07:32:39', name: 'seeds', source: 'squeue' });
  assert.equal(s[1].reason, 'JobArrayTaskLimit');
  assert.equal(s[1].startTime, undefined);
});

test('scontrol show job records, array tasks named JOBID_TASKID', () => {
  const text = `JobId=14 ArrayJobId=13 ArrayTaskId=1 JobName=seeds
   JobState=TIMEOUT Reason=TimeLimit Dependency=(null)
   Requeue=1 Restarts=1 BatchFlag=1 Reboot=0 ExitCode=0:15
   RunTime=00:01:28 TimeLimit=00:01:00
   StartTime=2026-12-02T07:33:18 EndTime=2026-12-02T07:34:46

JobId=2 JobName=single
   JobState=COMPLETED Reason=None
   Restarts=0 ExitCode=0:0
`;
  const r = parseScontrol(text);
  assert.equal(r.length, 2);
  assert.equal(r[0].jobId, '13_1');
  assert.equal(r[0].state, 'TIMEOUT');
  assert.equal(r[0].restarts, 1);
  assert.equal(r[0].exitCode, '0:15');
  assert.equal(r[1].jobId, '2');
  assert.equal(r[1].state, 'COMPLETED');
});

test('sacct lines', () => {
  const r = parseSacct('7_1|CANCELLED by 0|0:15|2026-12-02T07:33:18|2026-12-02T07:34:46|00:01:28|seeds\n');
  assert.equal(r[0].state, 'CANCELLED');
  assert.equal(r[0].jobId, '7_1');
  assert.equal(r[0].source, 'sacct');
});
