// The estimate tokenizer lives in shared/ so the router tokenizes exactly as the simulated engine.
export { EstimateTokenizer, ESTIMATE_OUTPUT_VOCAB } from '../../shared/tokenizer/estimate.js';
