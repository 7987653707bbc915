"""Codec intelligibility by an ASR nobody here wrote: Debian's pocketsphinx (pocketsphinx-en-us).

    python3 scripts/mini/eval_codec_wer.py MIMI_DIR VOICE N
VOICE: 'slt' (flite) or an espeak-ng voice such as 'en-us+m3'. Speaks the first N held-out
sentences (corpus_text 'eval'), runs transformers' MimiModel encode -> decode, and prints the
word error rate of pocketsphinx_continuous (16 kHz) on the original and on the decoded audio.
Needs: apt-get install flite espeak-ng pocketsphinx pocketsphinx-en-us; torch + transformers.
"""
import os, sys, subprocess, wave, re, tempfile
import numpy as np
import torch
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from corpus import resample_fft, trim_and_level, read_wav
from corpus_text import sentences
from transformers import MimiModel
if len(sys.argv) != 4:
    raise SystemExit(__doc__)
m=MimiModel.from_pretrained(sys.argv[1], dtype=torch.float32).eval()
def asr(x24):
    y=resample_fft(x24,24000,16000); p=tempfile.mktemp(suffix='.wav')
    with wave.open(p,'wb') as w: w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000); w.writeframes((np.clip(y,-1,1)*32767).astype(np.int16).tobytes())
    r=subprocess.run(['pocketsphinx_continuous','-infile',p,'-logfn','/dev/null'],capture_output=True,text=True); os.unlink(p)
    return ' '.join(l.strip() for l in r.stdout.splitlines() if l.strip())
def norm(s): return re.sub(r"[^a-z' ]"," ",s.lower()).split()
def ed(a,b):
    d=list(range(len(b)+1))
    for i in range(1,len(a)+1):
        p=d[:]; d[0]=i
        for j in range(1,len(b)+1): d[j]=min(p[j]+1,d[j-1]+1,p[j-1]+(a[i-1]!=b[j-1]))
    return d[-1]
E0=E1=N=0
voice=sys.argv[2]; n=int(sys.argv[3])
for t in sentences('eval',n):
    p=tempfile.mktemp(suffix='.wav')
    if voice=='slt': subprocess.run(['flite','-voice','slt','-t',t,'-o',p],check=True)
    else: subprocess.run(['espeak-ng','-v',voice,'-w',p,t],check=True)
    x,sr=read_wav(p); os.unlink(p); x=trim_and_level(resample_fft(x,sr,24000),24000)
    with torch.no_grad():
        y=m.decode(m.encode(torch.from_numpy(x)[None,None]).audio_codes).audio_values[0,0,:len(x)].numpy()
    ref=norm(t); h0=norm(asr(x)); h1=norm(asr(y))
    E0+=ed(ref,h0); E1+=ed(ref,h1); N+=len(ref)
print(f'{voice}: {n} held-out sentences, {N} words: WER original {E0/N:.3f}, mini Mimi decoded {E1/N:.3f}')
