/** The two versions of an adapter folder the writeDirAtomic kill test swaps. */
export const adapterFiles = (v: string): Record<string, string> => ({
  'adapter_config.json': JSON.stringify({ version: v, r: 4 }) + '\n',
  'adapter_model.safetensors': `weights of version ${v} `.repeat(2000),
});
