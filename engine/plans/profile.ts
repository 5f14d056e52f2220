// What the plans know of an adapter: a plain record, taken from the device once it exists
// (profileOf) or written by hand — the device-free plan tests describe lavapipe at 8 and 16
// lanes, SwiftShader and a hardware GPU this way, so a GPU profile can be checked (and changed)
// without touching the lavapipe rules or starting a device.
import type { Tuning } from './tuning.js';

export interface AdapterProfile {
  /** A CPU implementation (lavapipe, SwiftShader, …). */
  software: boolean;
  /** The subgroups feature, and its fixed size when the adapter has one. */
  hasSubgroups: boolean;
  subgroupSize: number | null;
  maxTextureDimension2D: number;
  maxStorageBufferBindingSize: number;
}

/** The profile of a device (engine/device.ts Gpu). */
export function profileOf(g: { info: { software: boolean; subgroupSize: number | null }; hasSubgroups: boolean; limits: { maxTextureDimension2D: number; maxStorageBufferBindingSize: number } }): AdapterProfile {
  return {
    software: g.info.software, hasSubgroups: g.hasSubgroups, subgroupSize: g.info.subgroupSize,
    maxTextureDimension2D: g.limits.maxTextureDimension2D, maxStorageBufferBindingSize: g.limits.maxStorageBufferBindingSize,
  };
}

/**
 * Whether kernels take their CPU-adapter structures (subgroup-broadcast GEMMs, one-pass batch
 * norm): on software adapters, unless `kernels: 'gpu'` asks for the hardware-GPU structures
 * there too (every workgroup-memory kernel then runs on a CPU driver: docs/kernels.md §8).
 */
export const cpuKernelPaths = (p: AdapterProfile, t: Tuning): boolean => p.software && t.kernels !== 'gpu';
