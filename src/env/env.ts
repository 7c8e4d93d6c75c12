import os from 'node:os';
import { readFileSync } from 'node:fs';
import type { Platform, RemoteRole } from '../core/native.js';
import type { VethRecord } from './netpath.js';
import { readTopology, type Topology } from './topology.js';

export interface Environment {
  os: { type: string; platform: string; release: string; version: string; arch: string; osreldate?: number };
  cpu: { model: string; online: number; allowed: number[]; canPin: boolean };
  /** Packages, cores, SMT siblings, NUMA nodes, last-level caches (absent in older results). */
  topology?: Topology;
  memoryBytes: number;
  hostname: string;
  /** The Node version that ran it; absent when close-stress-core (C, no Node) did. */
  node?: string;
  tool: { name: string; version: string };
  /**
   * Dynamic-loader variables that put other code into the process (a shim
   * can change what close() returns); name -> value, empty when none was set.
   */
  preload?: Record<string, string>;
  /** --path veth: the namespaces, veth ends, addresses and RPS of the run (absent: loopback). */
  netPath?: VethRecord;
  /** --peer: serve's address, its part of each trial and its host's environment. */
  remote?: RemoteRecord;
}

/** Loader variables that inject libraries or redirect symbol lookup: glibc/musl, FreeBSD rtld, macOS dyld. */
export const PRELOAD_VARIABLES = ['LD_PRELOAD', 'LD_AUDIT', 'LD_LIBRARY_PATH', 'DYLD_INSERT_LIBRARIES', 'DYLD_LIBRARY_PATH', 'DYLD_FORCE_FLAT_NAMESPACE'] as const;

export function preloadVariables(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  return Object.fromEntries(PRELOAD_VARIABLES.flatMap((k) => (env[k] ? [[k, env[k]!]] : [])));
}

/** The 1, 5 and 15 minute load averages (zeros where the OS has none). */
export function loadAverage(): [number, number, number] {
  const [a = 0, b = 0, c = 0] = os.loadavg();
  return [a, b, c];
}

export function toolInfo(): { name: string; version: string } {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    name: string;
    version: string;
  };
  return { name: pkg.name, version: pkg.version };
}

/** What a kernel developer needs to trust (or reproduce) a figure. */
export function captureEnvironment(platform: Platform): Environment {
  const cpus = os.cpus();
  return {
    os: {
      type: os.type(), platform: os.platform(), release: os.release(), version: os.version(), arch: os.arch(),
      ...(platform.osreldate !== undefined && { osreldate: platform.osreldate }),
    },
    cpu: {
      model: cpus[0]?.model.trim() ?? 'unknown',
      online: cpus.length,
      allowed: platform.allowedCpus,
      canPin: platform.canPin,
    },
    topology: readTopology(platform.os, platform.allowedCpus),
    memoryBytes: os.totalmem(),
    hostname: os.hostname(),
    node: process.version,
    tool: toolInfo(),
    preload: preloadVariables(),
  };
}

/** --peer: serve's side of a two-host run, as the controller records it. */
export interface RemoteRecord {
  /** --peer as given. */
  peer: string;
  /** serve's part of each trial (the listener's end): --reset-side server makes it the resetter. */
  serveRole: RemoteRole;
  /** serve --cpus: the CPUs of its host its lanes were pinned to, lane i on the i-th; absent: they floated. */
  cpus?: number[];
  /** The host serve runs on, as it captured it. */
  environment: Environment;
}
