/**
 * Workers are started with glibc's malloc asked to back its large blocks with transparent huge pages
 * (`glibc.malloc.hugetlb=1`, glibc >= 2.35; other C libraries ignore the variable). A worker restarted after a
 * failure fills hundreds of MiB of fresh memory with its checkpoint; on 4 KiB pages that is one page fault per
 * page, which measured here was most of a load from the agent's memory (384 MiB: 2.4 s on 4 KiB pages against
 * 0.85 s on huge pages). The kernel only honours it when THP is `madvise` or `always`. A user's own setting of
 * the tunable (e.g. `glibc.malloc.hugetlb=0` to turn this off) is kept.
 */
const TUNABLE = 'glibc.malloc.hugetlb';

export function withHugePageMalloc(glibcTunables: string | undefined): string {
  const current = glibcTunables ?? '';
  if (current.split(':').some((t) => t.trim().startsWith(`${TUNABLE}=`))) return current;
  return current === '' ? `${TUNABLE}=1` : `${current}:${TUNABLE}=1`;
}
