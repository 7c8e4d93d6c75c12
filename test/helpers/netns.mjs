// What the tests that make their own network namespaces share: whether they can, what namespaces
// exist (to prove a run left none behind), and a bounded wait.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { isRoot } from './spawn.mjs';

const hasTools = ['ip', 'unshare', 'nsenter'].every((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0);
const canNetns = isRoot && hasTools && spawnSync('unshare', ['--net', 'true']).status === 0;
/** A test option's `skip`: false where namespaces can be made, else the reason. */
export const netnsSkip = !isRoot ? 'needs root (network namespaces)' : !hasTools ? 'needs ip (iproute2), unshare and nsenter' : !canNetns ? 'unshare --net is not permitted here' : false;

/** Every network namespace some process (or thread) on the machine is in. */
export function liveNamespaces() {
  const ids = new Set();
  for (const pid of readdirSync('/proc').filter((e) => /^[0-9]+$/.test(e))) {
    let tasks = [];
    try { tasks = readdirSync(`/proc/${pid}/task`); } catch { continue; }
    for (const tid of tasks) {
      try { ids.add(readlinkSync(`/proc/${pid}/task/${tid}/ns/net`)); } catch { /* exited meanwhile */ }
    }
  }
  return ids;
}

/** Waits until check() holds; fails naming what did not happen. A bound, not a timing assertion. */
export async function until(check, what, ms = 15_000) {
  for (const end = Date.now() + ms; Date.now() < end;) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`not within ${ms} ms: ${what}`);
}
