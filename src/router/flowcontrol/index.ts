export { FlowController } from './flow-controller.js';
export { SaturationGate, type SaturationGateOptions, type TtftPredictor, type Assessment } from './saturation-gate.js';
export { FlowControl, FLOW_CONTROL_DEFAULTS, detectorThresholds, dropError, type FlowControlSettings } from './flow-control.js';
export { SheddableEvictor, type Evictable } from './sheddable-evictor.js';
export { flowIdOf, FAIRNESS_HEADERS } from './flow-id.js';
export * from './types.js';
