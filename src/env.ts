import os from 'node:os';
import { readFileSync } from 'node:fs';
import type { Platform } from './native.js';

export interface Environment {
  os: { type: string; platform: string; release: string; version: string; arch: string };
  cpu: { model: string; online: number; allowed: number[]; canPin: boolean };
  memoryBytes: number;
  hostname: string;
  /** The Node version that ran it; absent when close-stress-core (C, no Node) did. */
  node?: string;
  tool: { name: string; version: string };
}

export function toolInfo(): { name: string; version: string } {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    name: string;
    version: string;
  };
  return { name: pkg.name, version: pkg.version };
}

/** What a kernel developer needs to trust (or reproduce) a figure. */
export function captureEnvironment(platform: Platform): Environment {
  const cpus = os.cpus();
  return {
    os: { type: os.type(), platform: os.platform(), release: os.release(), version: os.version(), arch: os.arch() },
    cpu: {
      model: cpus[0]?.model.trim() ?? 'unknown',
      online: cpus.length,
      allowed: platform.allowedCpus,
      canPin: platform.canPin,
    },
    memoryBytes: os.totalmem(),
    hostname: os.hostname(),
    node: process.version,
    tool: toolInfo(),
  };
}
