// `dsv3 serve` through the official openai npm client: models, a chat, a streamed chat, a
// request with tools, 16 concurrent streams, a completion, and the errors the client maps
// to its exception classes. The model has random weights: the text is noise, so the checks
// are about shape, consistency and counts. Run by tests/e2e/openai_client_test.cc with
// OPENAI_BASE_URL, OPENAI_API_KEY and DSV3_MODEL set.
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const baseURL = process.env.OPENAI_BASE_URL;
const model = process.env.DSV3_MODEL;
const client = new OpenAI({ baseURL, apiKey: process.env.OPENAI_API_KEY, maxRetries: 0, timeout: 120_000 });
const messages = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Say hello.' },
];

async function check(name, fn) {
  const t0 = Date.now();
  await fn();
  console.log(`ok   ${name} (${Date.now() - t0} ms)`);
}

// Streams a chat and checks every chunk; returns what it said.
async function streamChat(extra = {}) {
  const stream = await client.chat.completions.create({
    model, messages, max_tokens: 24, stream: true, stream_options: { include_usage: true }, ...extra,
  });
  let content = '';
  let role = null;
  let finish = null;
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    ++chunks;
    assert.equal(chunk.object, 'chat.completion.chunk');
    assert.ok(chunk.id.startsWith('chatcmpl-'));
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      assert.equal(finish, null, 'nothing may follow the finish_reason');
      if (choice.delta.role) role = choice.delta.role;
      if (choice.delta.content) content += choice.delta.content;
      if (choice.finish_reason) finish = choice.finish_reason;
    }
  }
  assert.equal(role, 'assistant');
  assert.ok(['stop', 'length', 'tool_calls'].includes(finish), `finish_reason ${finish}`);
  assert.ok(usage && usage.completion_tokens > 0 && usage.completion_tokens <= (extra.max_tokens ?? 24));
  return { content, finish, usage, chunks };
}

await check('models.list', async () => {
  const page = await client.models.list();
  assert.deepEqual(page.data.map((m) => m.id), [model]);
  const one = await client.models.retrieve(model);
  assert.equal(one.id, model);
});

await check('chat', async () => {
  const r = await client.chat.completions.create({ model, messages, max_tokens: 16, seed: 7 });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
  assert.ok(r.usage.prompt_tokens > 0);
  assert.ok(r.usage.completion_tokens > 0 && r.usage.completion_tokens <= 16);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
});

await check('streamed chat equals the whole answer', async () => {
  const params = { seed: 11, temperature: 0.8, max_tokens: 200, ignore_eos: true };
  const streamed = await streamChat(params);
  const whole = await client.chat.completions.create({ model, messages, ...params });
  assert.equal(streamed.content, whole.choices[0].message.content);
  assert.equal(streamed.usage.completion_tokens, 200);
  assert.equal(streamed.finish, 'length');
});

await check('request with tools', async () => {
  const tools = [{
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Current weather of a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  }];
  const question = { role: 'user', content: 'What is the weather in Paris?' };
  const r = await client.chat.completions.create({ model, messages: [question], tools, tool_choice: 'auto', max_tokens: 16 });
  assert.ok(['stop', 'length', 'tool_calls'].includes(r.choices[0].finish_reason));
  // A conversation that already holds a call and its result renders and runs.
  const followUp = await client.chat.completions.create({
    model, tools, max_tokens: 8,
    messages: [
      question,
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: '18 C, sunny' },
    ],
  });
  assert.equal(followUp.object, 'chat.completion');
  await streamChat({ tools, messages: [question] });
});

await check('tool_choice naming a function gets that call', async () => {
  const tools = ['get_weather', 'get_time'].map((name) => ({
    type: 'function', function: { name, parameters: { type: 'object', properties: {} } },
  }));
  const r = await client.chat.completions.create({
    model, tools, max_tokens: 8,
    messages: [{ role: 'user', content: 'What time is it?' }],
    tool_choice: { type: 'function', function: { name: 'get_time' } },
  });
  assert.equal(r.choices[0].message.tool_calls?.[0]?.function?.name, 'get_time', JSON.stringify(r));
});

await check('n choices', async () => {
  const r = await client.chat.completions.create({ model, messages, n: 3, max_tokens: 6, seed: 5, ignore_eos: true });
  assert.equal(r.choices.length, 3);
  assert.deepEqual(r.choices.map((c) => c.index), [0, 1, 2]);
  assert.equal(r.usage.completion_tokens, 18);
  const stream = await client.chat.completions.create({ model, messages, n: 2, max_tokens: 4, stream: true });
  const seen = new Set();
  for await (const chunk of stream) for (const c of chunk.choices) seen.add(c.index);
  assert.deepEqual([...seen].sort(), [0, 1]);
});

await check('16 concurrent streamed chats', async () => {
  const results = await Promise.all(Array.from({ length: 16 }, (_, i) => streamChat({
    seed: i, max_tokens: 32, messages: [{ role: 'user', content: `Request number ${i}` }],
  })));
  assert.equal(results.length, 16);
  for (const r of results) assert.ok(r.chunks >= 3);
});

await check('completion', async () => {
  const r = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 8, logprobs: 2 });
  assert.equal(r.object, 'text_completion');
  assert.equal(typeof r.choices[0].text, 'string');
  assert.equal(r.choices[0].logprobs.tokens.length, r.usage.completion_tokens);
  const stream = await client.completions.create({ model, prompt: [1, 50, 60], max_tokens: 8, stream: true });
  let finish = null;
  for await (const chunk of stream) finish = chunk.choices[0]?.finish_reason ?? finish;
  assert.ok(finish);
});

await check('errors', async () => {
  await assert.rejects(client.chat.completions.create({ model, messages, temperature: 9 }), (e) => {
    assert.ok(e instanceof OpenAI.BadRequestError, String(e));
    assert.equal(e.status, 400);
    assert.equal(e.param, 'temperature');
    return true;
  });
  await assert.rejects(client.chat.completions.create({ model, messages: [] }), OpenAI.BadRequestError);
  const stranger = new OpenAI({ baseURL, apiKey: 'wrong-key', maxRetries: 0 });
  await assert.rejects(stranger.models.list(), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
});

console.log('all ok');
