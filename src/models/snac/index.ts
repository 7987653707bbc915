/** SNAC 24 kHz (and 32/44 kHz) codec: config, model, noise control. */
export { SNAC_24KHZ, hopLength, lcm, padMultiple, paddedLength, snacConfigFromJson, validateSnacConfig } from './config';
export type { SnacConfig } from './config';
export { SNAC_IGNORED_KEYS, SnacModel, positionalNoise } from './modeling';
export type { SnacCodes, SnacDecodeOptions, SnacLoadOptions, SnacNoise, SnacNoiseFn } from './modeling';
