import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TextTokenizer, TokenizerError } from '../../src/tokenizer';
import type { ChatMessage } from '../../src/tokenizer';

const FIXTURE = join(__dirname, '..', 'fixtures', 'tokenizer');
const EXPECTED = join(FIXTURE, 'expected.json');
const GENERATE = 'python3 test/fixtures/make_tokenizer_fixture.py';

interface Spec {
  texts: string[];
  chats: { messages: ChatMessage[]; add_generation_prompt: boolean }[];
}
interface Expected {
  tokenizers: string;
  transformers?: string;
  cases: {
    text: string; ids: number[]; ids_no_special: number[]; decoded: string; decoded_skip_special: string;
    hf_ids?: number[]; hf_decoded?: string; hf_decoded_skip_special?: string;
  }[];
  chats: { messages: ChatMessage[]; add_generation_prompt: boolean; rendered: string; ids: number[] }[];
}

const spec = JSON.parse(readFileSync(join(FIXTURE, 'texts.json'), 'utf8')) as Spec;
const load = () => TextTokenizer.fromDir(FIXTURE);

test('fixture tokenizer loads with its special tokens', async () => {
  const tok = await load();
  assert.equal(tok.bosToken, '<|begin_of_text|>');
  assert.equal(tok.eosToken, '<|eot_id|>');
  assert.equal(tok.bosTokenId, tok.tokenToId('<|begin_of_text|>'));
  assert.equal(tok.idToToken(tok.eosTokenId!), '<|eot_id|>');
  assert.equal(tok.padTokenId, undefined);
  assert.equal(tok.vocabSize, tok.tokenToId('<laugh>')! + 1);
  assert.equal(tok.tokenToId('Ġworld') !== undefined, true);
  assert.equal(tok.tokenToId('definitely-not-a-token'), undefined);
  assert.throws(() => tok.requireTokenId('<|nope|>'), (e: unknown) => e instanceof TokenizerError && /"<\|nope\|>"/.test(e.message));
  assert.ok(tok.specialIds.has(tok.bosTokenId!));
  assert.ok(!tok.specialIds.has(tok.tokenToId('<laugh>')!), '<laugh> is added but not special');
});

test('encode / decode basics: special tokens, added tokens, empty input, bad ids', async () => {
  const tok = await load();
  const bos = tok.bosTokenId!;
  const ids = tok.encode('Hello world');
  assert.equal(ids[0], bos);
  assert.deepEqual(tok.encode('Hello world', { addSpecialTokens: false }), ids.slice(1));
  assert.equal(tok.decode(ids), '<|begin_of_text|>Hello world');
  assert.equal(tok.decode(ids, { skipSpecialTokens: true }), 'Hello world');
  const laugh = tok.tokenToId('<laugh>')!;
  const withTags = tok.encode('<laugh> ha <|eot_id|>', { addSpecialTokens: false });
  assert.equal(withTags[0], laugh);
  assert.equal(withTags.at(-1), tok.eosTokenId);
  assert.equal(tok.decode(withTags, { skipSpecialTokens: true }), '<laugh> ha ');
  assert.deepEqual(tok.encode('', { addSpecialTokens: false }), []);
  assert.equal(tok.decode([]), '');
  assert.equal(tok.decode([bos], { skipSpecialTokens: true }), '');
  assert.throws(() => tok.decode([tok.vocabSize + 5]), /id \d+ is not in the vocabulary/);
  assert.deepEqual(tok.decode(new Int32Array(ids)), tok.decode(ids));
  assert.deepEqual(tok.tokenize('Hello world'), ['Hello', 'Ġworld']);
});

test('parity with Python tokenizers / transformers (or round trip until expected.json exists)', async (t) => {
  const tok = await load();
  if (!existsSync(EXPECTED)) {
    t.diagnostic(`${EXPECTED} is missing: checking self-consistency only. Generate it with: ${GENERATE}`);
    for (const text of spec.texts) {
      const ids = tok.encode(text, { addSpecialTokens: false });
      // Byte-level BPE is lossless: decoding (without clean-up) gives the text back.
      assert.equal(tok.decode(ids, { cleanUpTokenizationSpaces: false }), text, JSON.stringify(text));
      assert.deepEqual(tok.encode(text), [tok.bosTokenId, ...ids]);
    }
    return;
  }
  const expected = JSON.parse(readFileSync(EXPECTED, 'utf8')) as Expected;
  t.diagnostic(`comparing with tokenizers ${expected.tokenizers}, transformers ${expected.transformers ?? 'absent'}`);
  assert.deepEqual(expected.cases.map((c) => c.text), spec.texts, `texts.json changed since expected.json was made; rerun ${GENERATE}`);
  for (const c of expected.cases) {
    const what = JSON.stringify(c.text);
    assert.deepEqual(tok.encode(c.text), c.ids, `ids of ${what}`);
    assert.deepEqual(tok.encode(c.text, { addSpecialTokens: false }), c.ids_no_special, `ids (no special) of ${what}`);
    assert.equal(tok.decode(c.ids, { cleanUpTokenizationSpaces: false }), c.decoded, `decode of ${what}`);
    assert.equal(tok.decode(c.ids, { skipSpecialTokens: true, cleanUpTokenizationSpaces: false }), c.decoded_skip_special,
      `decode(skip special) of ${what}`);
    if (c.hf_ids) {
      assert.deepEqual(c.hf_ids, c.ids, `transformers and tokenizers disagree on ${what}`);
      assert.equal(tok.decode(c.ids), c.hf_decoded, `transformers decode of ${what}`);
      assert.equal(tok.decode(c.ids, { skipSpecialTokens: true }), c.hf_decoded_skip_special, `transformers decode(skip) of ${what}`);
    }
  }
  for (const chat of expected.chats) {
    const opts = { addGenerationPrompt: chat.add_generation_prompt };
    assert.equal(tok.applyChatTemplate(chat.messages, opts), chat.rendered);
    assert.deepEqual(tok.encodeChat(chat.messages, opts), chat.ids);
  }
});

test('chat template: Llama-3 format, generation prompt, errors', async () => {
  const tok = await load();
  const messages: ChatMessage[] = [
    { role: 'system', content: ' Be brief. ' },
    { role: 'user', content: 'Hi!' },
  ];
  assert.deepEqual(tok.chatTemplateNames(), ['default']);
  const rendered = tok.applyChatTemplate(messages, { addGenerationPrompt: true });
  assert.equal(rendered,
    '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>' +
    '<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n');
  assert.ok(!tok.applyChatTemplate(messages).endsWith('assistant<|end_header_id|>\n\n'));
  const ids = tok.encodeChat(messages, { addGenerationPrompt: true });
  assert.equal(ids.filter((i) => i === tok.bosTokenId).length, 1, 'bos comes from the template only');
  assert.equal(tok.decode(ids), rendered);
  assert.throws(() => tok.applyChatTemplate(messages, { templateName: 'tool_use' }), /no chat template "tool_use" \(have default\)/);
  assert.throws(() => tok.applyChatTemplate([{ content: 'x' } as unknown as ChatMessage]), /messages\[0\] has no string role/);
});

test('chat templates: named list, chat_template.jinja, raise_exception, extra variables', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ttslab-tok-'));
  try {
    copyFileSync(join(FIXTURE, 'tokenizer.json'), join(dir, 'tokenizer.json'));
    const config = JSON.parse(readFileSync(join(FIXTURE, 'tokenizer_config.json'), 'utf8'));
    config.chat_template = [
      { name: 'default', template: '{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}' },
      { name: 'strict', template: "{% if messages[0].role != 'user' %}{{ raise_exception('first message must be user') }}{% endif %}{{ greeting }}" },
    ];
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(config));
    let tok = await TextTokenizer.fromPretrained(dir); // a local directory works wherever a repo id does
    assert.deepEqual(tok.chatTemplateNames(), ['default', 'strict']);
    assert.equal(tok.applyChatTemplate([{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }]), 'user: a\nassistant: b\n');
    assert.equal(tok.applyChatTemplate([{ role: 'user', content: 'a' }], { templateName: 'strict', extra: { greeting: 'hey' } }), 'hey');
    assert.throws(() => tok.applyChatTemplate([{ role: 'system', content: 'a' }], { templateName: 'strict' }),
      (e: unknown) => e instanceof TokenizerError && /first message must be user/.test(e.message));
    // chat_template.jinja (transformers >= 4.47 saves it apart) wins over the config.
    writeFileSync(join(dir, 'chat_template.jinja'), '{{ bos_token }}{{ messages | length }}');
    tok = await TextTokenizer.fromDir(dir);
    assert.equal(tok.applyChatTemplate([{ role: 'user', content: 'a' }]), '<|begin_of_text|>1');
    // A broken tokenizer.json is an error naming the file.
    writeFileSync(join(dir, 'tokenizer.json'), '{"model": ');
    await assert.rejects(TextTokenizer.fromDir(dir), (e: unknown) => e instanceof TokenizerError && e.message.includes(join(dir, 'tokenizer.json')));
    await assert.rejects(TextTokenizer.fromDir(join(dir, 'missing')), /cannot read/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
