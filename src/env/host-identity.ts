/**
 * Which host a process is on, for deciding who may share Unix sockets and shared memory. The
 * hostname alone is not enough: cloned VMs, identically named containers and network namespaces
 * share it while sharing nothing else. So the default identity joins the hostname with what is
 * really per machine (machine id, boot id) and per network stack (the network namespace's inode).
 */
import { readFileSync, readlinkSync } from 'node:fs';
import os from 'node:os';
import { EH_ENV } from './contract.js';

function readTrimmed(file: string): string | undefined {
  try {
    const s = readFileSync(file, 'utf8').trim();
    return s === '' ? undefined : s;
  } catch {
    return undefined;
  }
}

function netnsInode(): string | undefined {
  try {
    // "net:[4026531840]": two processes see the same one only inside one network namespace.
    return /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/net'))?.[1];
  } catch {
    return undefined;
  }
}

/** This process's host identity as computed here: `hostname/m=<machine-id>/b=<boot-id>/n=<netns inode>` (parts missing on non-Linux are left out). */
export function detectHostId(): string {
  const machine = readTrimmed('/etc/machine-id') ?? readTrimmed('/var/lib/dbus/machine-id');
  const boot = readTrimmed('/proc/sys/kernel/random/boot_id');
  const net = netnsInode();
  const parts = [os.hostname()];
  if (machine !== undefined) parts.push(`m=${machine.slice(0, 12)}`);
  if (boot !== undefined) parts.push(`b=${boot.slice(0, 8)}`);
  if (net !== undefined) parts.push(`n=${net}`);
  return parts.join('/');
}

/** A user-set EH_HOST_ID wins; otherwise the detected identity. */
export function hostIdFrom(env: NodeJS.ProcessEnv = process.env): string {
  const set = env[EH_ENV.HOST_ID];
  return set !== undefined && set !== '' ? set : detectHostId();
}
