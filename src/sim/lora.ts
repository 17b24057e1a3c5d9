import { KvgateError, ErrorCode } from '../shared/errors.js';

/** One LoRA adapter as `--lora-modules` names it (vLLM's LoRAModulePath; llm-d-inference-sim's JSON form). */
export interface LoraModule {
  name: string;
  path: string;
  base_model_name?: string;
}

export interface LoraAdapter extends LoraModule {
  /** vLLM's lora_int_id: 1-based, kept when an adapter is reloaded in place. */
  id: number;
}

/**
 * Parses one `--lora-modules` value: vLLM's `name=path` or a JSON object
 * `{"name", "path", "base_model_name"}` (the only form llm-d-inference-sim takes).
 */
export function parseLoraModule(text: string): LoraModule {
  const t = text.trim();
  if (t.startsWith('{')) {
    let v: unknown;
    try {
      v = JSON.parse(t);
    } catch (err) {
      throw new KvgateError(ErrorCode.InvalidConfig, `--lora-modules: invalid JSON ${JSON.stringify(t)}: ${(err as Error).message}`, { param: 'lora-modules' });
    }
    const m = v as Partial<LoraModule>;
    if (!m || typeof m.name !== 'string' || !m.name) throw new KvgateError(ErrorCode.InvalidConfig, `--lora-modules: ${t} needs a non-empty "name"`, { param: 'lora-modules' });
    return { name: m.name, path: typeof m.path === 'string' ? m.path : m.name, base_model_name: typeof m.base_model_name === 'string' && m.base_model_name ? m.base_model_name : undefined };
  }
  const eq = t.indexOf('=');
  if (eq <= 0 || eq === t.length - 1) throw new KvgateError(ErrorCode.InvalidConfig, `--lora-modules: expected name=path or a JSON object, got ${JSON.stringify(t)}`, { param: 'lora-modules' });
  return { name: t.slice(0, eq), path: t.slice(eq + 1) };
}

/**
 * The adapters a server knows (vLLM's OpenAIServingModels.lora_requests): the static
 * `--lora-modules` (the constructor throws InvalidConfig for a name given twice or an unknown
 * base model) plus those loaded at run time. Which adapters sit in GPU slots is the engine's
 * business (`--max-loras`); a request naming an adapter not registered here is a 404.
 */
export class LoraRegistry {
  private readonly adapters = new Map<string, LoraAdapter>();
  private nextId = 1;

  constructor(
    modules: LoraModule[],
    private readonly baseModels: string[],
  ) {
    for (const m of modules) {
      // vLLM loads static adapters one by one at start and stops on the "already loaded" error.
      if (this.adapters.has(m.name)) {
        throw new KvgateError(ErrorCode.InvalidConfig, `--lora-modules: adapter '${m.name}' is given twice (vLLM refuses to start: The lora adapter '${m.name}' has already been loaded.)`, { param: 'lora-modules' });
      }
      if (m.base_model_name && !baseModels.includes(m.base_model_name)) {
        throw new KvgateError(ErrorCode.InvalidConfig, `unknown base model '${m.base_model_name}' for LoRA '${m.name}'`, { param: 'lora-modules' });
      }
      this.add(m);
    }
  }

  private add(m: LoraModule): LoraAdapter {
    const prev = this.adapters.get(m.name);
    const a: LoraAdapter = { ...m, id: prev?.id ?? this.nextId++ };
    this.adapters.set(m.name, a);
    return a;
  }

  get(name: string): LoraAdapter | undefined {
    return this.adapters.get(name);
  }

  list(): LoraAdapter[] {
    return [...this.adapters.values()];
  }

  /** POST /v1/load_lora_adapter, with vLLM's checks and wording. Returns the success text. */
  load(body: Record<string, unknown>): string {
    const name = typeof body.lora_name === 'string' ? body.lora_name : '';
    const path = typeof body.lora_path === 'string' ? body.lora_path : '';
    if (!name || !path) throw new KvgateError(ErrorCode.InvalidRequest, "Both 'lora_name' and 'lora_path' must be provided.", { param: name ? 'lora_path' : 'lora_name' });
    if (this.baseModels.includes(name)) throw new KvgateError(ErrorCode.InvalidRequest, `'${name}' is the name of a served base model`, { param: 'lora_name' });
    if (body.load_inplace !== true && this.adapters.has(name)) {
      throw new KvgateError(ErrorCode.InvalidRequest, `The lora adapter '${name}' has already been loaded. If you want to load the adapter in place, set 'load_inplace' to True.`, { param: 'lora_name' });
    }
    this.add({ name, path });
    return `Success: LoRA adapter '${name}' added successfully.`;
  }

  /** POST /v1/unload_lora_adapter, with vLLM's checks and wording. Returns the success text. */
  unload(body: Record<string, unknown>): string {
    const name = typeof body.lora_name === 'string' ? body.lora_name : '';
    if (!name) throw new KvgateError(ErrorCode.InvalidRequest, "'lora_name' needs to be provided to unload a LoRA adapter.", { param: 'lora_name' });
    if (!this.adapters.has(name)) throw new KvgateError(ErrorCode.NotFound, `The lora adapter '${name}' cannot be found.`, { param: 'lora_name' });
    this.adapters.delete(name);
    return `Success: LoRA adapter '${name}' removed successfully.`;
  }
}
