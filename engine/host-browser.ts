// The browser's host: none. A bundler resolves `#host` (engine/device.ts) here through
// package.json's "imports" conditions, so no Node module reaches a browser bundle; the adapter
// then comes from navigator.gpu and checkpoints travel as bytes (encodeCheckpoint / parseCheckpoint).
import type { NodeHost } from './host.js';

export const host: NodeHost | null = null;
