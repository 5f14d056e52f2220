// The engine's public surface.
export { getGpu, gpu, destroyGpu, setQuiet, setVectorWidth, cpuVectorWidth, NO_WEBGPU_HINT, SETUP_HINT, GpuLimitError, type Gpu, type DeviceInfo } from './device.js';
export { Tensor, tensor, zeros, empty, scalar, numel, fmtShape, type DType, type Shape } from './tensor.js';
export { scope, memoryStats, trimPool, resetPeak } from './memory.js';
export { ScalarLog } from './scalar-log.js';
export { profileKernels, type KernelProfile } from './dispatch.js';
export { tuning, setTuning, resetTuning, defaultTuning, tuningFromEnvironment, tuningOptionsMarkdown, TUNING_OPTIONS, type Tuning, type TuningPatch, type TuningOption, type MatmulStructure, type VectorWidth, type TiledTile } from './plans/tuning.js';
export { profileOf, type AdapterProfile } from './plans/profile.js';
export { benchmark, type BenchmarkOptions, type BenchmarkResult, type Timing } from './benchmark.js';
export { defineKernel, type Kernel, type KernelDeclaration, type KernelDispatch, type BindingDecl, type BindingValue, type StorageType, type KernelConfig } from './kernel.js';
export { gridFor, WG, type ParamDecl, type ParamType, type ParamValues, type StorageAccess } from '../kernels/common.js';
export { sync, flush, gpuTimeMs, dispatchTotal, submitTotal, pipelineCount } from './dispatch.js';
export { noGrad, isGradEnabled, replay, topoOrder as topoOrderOf, type Node } from './tape.js';
export { backward, registry, apply, defineOp, type OpDef, type NoAttrs, type Ref, type TestCase, type InputSpec, type Float64Lib } from './op.js';
export * from './ops/elementwise.js';
export * from './ops/reduce.js';
export * from './ops/layout.js';
export * from './ops/matmul.js';
export * from './ops/softmax.js';
export * from './ops/loss.js';
export * from './ops/conv.js';
export * from './ops/lbd.js';
export { Generator, manualSeed, rand, randn, randomTwin, philox, draw, defaultGenerator, mulberry32, type Draw, type GeneratorState } from './random.js';
export { Optimizer, SGD, Adam, AdamW, RMSProp, type SGDOptions, type AdamOptions, type RMSPropOptions, type ParamGroup } from './optim.js';
export {
  saveTensors, saveRecords, loadTensors, readCheckpoint, loadTensorsInto, writeFileAtomic, encodeCheckpoint, parseCheckpoint,
  type TensorRecord, type Checkpoint, type SaveOptions,
} from './checkpoint.js';
export * from './ops/pool.js';
export * from './ops/norm.js';
export * from './ops/dropout.js';
export * from './ops/noise.js';
export * from './ops/sparse.js';
export * from './ops/recompute.js';
export * from './ops/latent.js';
