import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withHugePageMalloc } from '../../src/agent/huge-pages.js';

test('workers get huge-page malloc, keeping the other tunables of the user', () => {
  assert.equal(withHugePageMalloc(undefined), 'glibc.malloc.hugetlb=1');
  assert.equal(withHugePageMalloc(''), 'glibc.malloc.hugetlb=1');
  assert.equal(withHugePageMalloc('glibc.malloc.arena_max=2'), 'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1');
});

test("a user's own glibc.malloc.hugetlb setting is left alone (the way to turn it off)", () => {
  assert.equal(withHugePageMalloc('glibc.malloc.hugetlb=0'), 'glibc.malloc.hugetlb=0');
  assert.equal(withHugePageMalloc('glibc.malloc.arena_max=2:glibc.malloc.hugetlb=2'), 'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=2');
});
