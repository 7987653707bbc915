/** Text tokenizers: tokenizer.json + tokenizer_config.json, chat templates. */
export { TextTokenizer, TokenizerError, TOKENIZER_FILES } from './tokenizer';
export type { ChatMessage, ChatTemplateOptions, TokenizerDecodeOptions, TokenizerEncodeOptions } from './tokenizer';
