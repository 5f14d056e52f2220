// Implicit-feedback data for collaborative filtering (Mult-VAE / SIVAE), by concern:
// ratings/readers.ts (streaming MovieLens / Netflix / MSD readers), ratings/csr.ts (compressed
// sparse rows on the host), ratings/split.ts (Liang et al.'s preprocessing and the user split),
// ratings/densify.ts (a batch's dense rows and nonzero pattern on the GPU). Everything stays
// sparse on the host; the dense user × item matrix only exists on the GPU, one batch at a time.
export * from './ratings/readers.js';
export * from './ratings/csr.js';
export * from './ratings/split.js';
export * from './ratings/densify.js';
