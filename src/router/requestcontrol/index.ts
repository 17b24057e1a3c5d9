export { Director } from './director.js';
export { RequestHandle, type Outcome, type StatusDecision } from './request-handle.js';
export type { DirectorOptions, EndpointFeedback, InferenceInput } from './types.js';
export { servesModel, modelNotFound } from './candidates.js';
export { isRetryableStatus } from './retry-policy.js';
