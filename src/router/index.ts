export type * from './api.js';
export { createRouter, EndpointPicker, type RouterOptions, type RouterStats } from './router.js';
export { loadConfig, listPresets, presetText, validateConfig, type EffectiveConfig, type PluginSpec } from './config/config.js';
export { parseOpenAIRequest, type ParseOptions } from './parse-request.js';
export { MemoryDatastore } from './datastore/datastore.js';
export { ApproxPrefixIndex } from './prefix/approx-prefix-index.js';
export { pluginTypes } from './plugins/registry.js';
export { Director, RequestHandle, servesModel, type DirectorOptions, type EndpointFeedback, type InferenceInput, type Outcome } from './requestcontrol/index.js';
export { ChatTemplates } from './prompt/chat-templates.js';
