/**
 * An EndpointPickerConfig whose picker names two endpoints in x-gateway-destination-endpoint
 * (max-score-picker maxNumOfEndpoints: 2, over queue-scorer): the choice and one fallback, where
 * every preset names one (test/extproc/destination-count.test.ts).
 */
export const NAMING_TWO_YAML = `apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: queue-scorer
- type: max-score-picker
  parameters: {maxNumOfEndpoints: 2}
schedulingProfiles:
- name: default
  plugins:
  - pluginRef: queue-scorer
  - pluginRef: max-score-picker
`;
