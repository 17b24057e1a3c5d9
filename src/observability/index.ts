export { FleetRecorder, type FleetRecorderOptions, type DecisionInput, type CompletionInput } from './fleet-recorder.js';
export { serveDashboard, type DashboardOptions } from './dashboard-server.js';
export type * from './fleet-snapshot.js';
