// Types for node-wav 0.0.2, which ships none.
declare module 'node-wav' {
  export interface DecodedWav {
    sampleRate: number;
    channelData: Float32Array[];
  }
  export function decode(buffer: Buffer | Uint8Array | ArrayBuffer): DecodedWav;
  export function encode(
    channelData: Float32Array[],
    opts: { sampleRate: number; float?: boolean; floatingPoint?: boolean; bitDepth?: number },
  ): Buffer;
}
