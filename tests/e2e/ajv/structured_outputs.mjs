// Structured outputs of a running `dsv3 serve`, checked by an outside validator (ajv):
// response_format json_schema and json_object on /v1/chat/completions and /v1/completions,
// streamed and not, several seeds; strict tool arguments (named, required, auto); schemas
// dsv3 cannot honour get a 400 naming the keyword.
// Env: DSV3_BASE_URL (http://127.0.0.1:PORT/v1). Prints "all ok" on success.
import Ajv from "ajv";

const base = process.env.DSV3_BASE_URL;
const ajv = new Ajv({ strict: false });
let failures = 0;
function check(ok, what) {
  if (!ok) {
    failures++;
    console.log("FAIL: " + what);
  }
}

async function post(path, body) {
  const res = await fetch(base + path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return res;
}

// The text of a streamed response (server-sent events) and its finish_reason.
async function streamed(path, body, chat) {
  const res = await post(path, { ...body, stream: true });
  const events = (await res.text()).split("\n").filter((l) => l.startsWith("data: "));
  let text = "", finish = null;
  for (const e of events) {
    if (e === "data: [DONE]") break;
    const choice = JSON.parse(e.slice(6)).choices[0];
    if (!choice) continue;
    text += chat ? choice.delta.content ?? "" : choice.text ?? "";
    finish = choice.finish_reason ?? finish;
  }
  return { text, finish };
}

async function complete(path, body, chat, stream) {
  if (stream) return streamed(path, body, chat);
  const res = await post(path, body);
  const json = await res.json();
  if (res.status !== 200) return { text: "", finish: "HTTP " + res.status + " " + JSON.stringify(json) };
  const choice = json.choices[0];
  return { text: chat ? choice.message.content : choice.text, finish: choice.finish_reason };
}

const schemas = [
  {
    type: "object",
    properties: {
      name: { type: "string", maxLength: 12 },
      age: { type: "integer" },
      alive: { type: "boolean" },
      color: { enum: ["red", "redder", "green", null] },
      tags: { type: "array", items: { type: "string", maxLength: 6 }, maxItems: 3 },
    },
    required: ["name", "age", "alive", "color", "tags"],
    additionalProperties: false,
  },
  {
    type: "object",
    properties: {
      point: {
        type: "object",
        properties: { x: { type: "number" }, y: { type: "number" } },
        required: ["x", "y"],
        additionalProperties: false,
      },
      label: { anyOf: [{ type: "string", maxLength: 8 }, { type: "null" }, { const: 7 }] },
    },
    required: ["point", "label"],
    additionalProperties: false,
  },
  {
    $ref: "#/$defs/node",
    $defs: {
      node: {
        type: "object",
        properties: { v: { type: "integer" }, kids: { type: "array", items: { $ref: "#/$defs/node" }, maxItems: 1 } },
        required: ["v", "kids"],
        additionalProperties: false,
      },
    },
  },
];

let runs = 0;
for (const [i, schema] of schemas.entries()) {
  const validate = ajv.compile(schema);
  const response_format = { type: "json_schema", json_schema: { name: "s" + i, schema, strict: true } };
  for (const seed of [1, 2, 3]) {
    for (const chat of [true, false]) {
      const stream = seed === 3;
      const path = chat ? "/chat/completions" : "/completions";
      const body = chat
        ? { model: "default", messages: [{ role: "user", content: "Answer in JSON." }], max_tokens: 400, seed, response_format }
        : { model: "default", prompt: "The record:", max_tokens: 400, seed, response_format };
      const { text, finish } = await complete(path, body, chat, stream);
      const what = `schema ${i} seed ${seed} ${path}${stream ? " streamed" : ""}: ${text}`;
      runs++;
      check(finish === "stop", `finish_reason ${finish}, ${what}`);
      let value;
      try {
        value = JSON.parse(text);
      } catch (e) {
        check(false, "not JSON, " + what);
        continue;
      }
      check(validate(value), `ajv: ${ajv.errorsText(validate.errors)}, ${what}`);
    }
  }
}

// json_object: any object (the model may run to max_tokens: then finish_reason is "length").
for (const seed of [1, 2]) {
  const { text, finish } = await complete(
    "/chat/completions",
    { model: "default", messages: [{ role: "user", content: "JSON please" }], max_tokens: 300, seed, response_format: { type: "json_object" } },
    true, false);
  check(text.startsWith("{"), "json_object output starts with {: " + text);
  if (finish === "stop") {
    let value = null;
    try { value = JSON.parse(text); } catch (e) {}
    check(value !== null && typeof value === "object" && !Array.isArray(value), "json_object gives an object: " + text);
  } else {
    check(finish === "length", "json_object finish_reason " + finish);
  }
}

// A strict function chosen by tool_choice: its arguments follow its parameters schema.
{
  const parameters = {
    type: "object",
    properties: { city: { type: "string", maxLength: 10 }, days: { type: "integer" }, units: { enum: ["C", "F"] } },
    required: ["city", "days", "units"],
    additionalProperties: false,
  };
  const validate = ajv.compile(parameters);
  for (const seed of [1, 2]) {
    const res = await post("/chat/completions", {
      model: "default", messages: [{ role: "user", content: "Weather?" }], max_tokens: 200, seed,
      tools: [{ type: "function", function: { name: "weather", strict: true, parameters } }],
      tool_choice: { type: "function", function: { name: "weather" } },
    });
    const choice = (await res.json()).choices?.[0];
    const call = choice?.message?.tool_calls?.[0];
    check(choice?.finish_reason === "tool_calls" && call?.function?.name === "weather",
      "a strict forced call: " + JSON.stringify(choice));
    let args = null;
    try { args = JSON.parse(call.function.arguments); } catch (e) {}
    check(args !== null && validate(args), `strict arguments ${call?.function?.arguments}: ${ajv.errorsText(validate.errors)}`);
    runs++;
  }
}

// Strict functions the model calls itself ("required": the answer opens a call and the model
// picks the function; "auto": the text is free until the model opens one): every call of the
// strict function has arguments that follow its schema.
{
  const parameters = {
    type: "object",
    properties: { city: { type: "string", maxLength: 10 }, days: { type: "integer" }, units: { enum: ["C", "F"] } },
    required: ["city", "days", "units"],
    additionalProperties: false,
  };
  const validate = ajv.compile(parameters);
  const tools = [
    { type: "function", function: { name: "weather", strict: true, parameters } },
    { type: "function", function: { name: "clock", parameters: { type: "object" } } },
  ];
  for (const tool_choice of ["required", "auto"]) {
    for (const seed of [1, 2, 3, 4]) {
      const res = await post("/chat/completions", {
        model: "default", messages: [{ role: "user", content: "Weather?" }], max_tokens: 200, seed, tools, tool_choice,
      });
      const choice = (await res.json()).choices?.[0];
      const calls = choice?.message?.tool_calls ?? [];
      // A call the token limit cut is returned as it stands (its arguments unfinished).
      const whole = choice?.finish_reason === "length" ? calls.slice(0, -1) : calls;
      // "required" opens a call of an offered function; "clock" is not strict, so its arguments
      // are the model's own text and may not parse into a call.
      if (tool_choice === "required") {
        check(calls.length > 0 || (choice?.message?.content ?? "").includes("function<｜tool▁sep｜>clock"),
          "required gives a call: " + JSON.stringify(choice));
      }
      for (const call of whole) {
        check(call.function.name === "weather" || call.function.name === "clock", "an offered function: " + call.function.name);
        if (call.function.name !== "weather") continue;
        let args = null;
        try { args = JSON.parse(call.function.arguments); } catch (e) {}
        check(args !== null && validate(args),
          `${tool_choice} strict arguments ${call.function.arguments}: ${ajv.errorsText(validate.errors)}`);
        runs++;
      }
    }
  }
}

// A token limit that cuts the JSON: finish_reason "length".
{
  const { finish } = await complete(
    "/chat/completions",
    { model: "default", messages: [{ role: "user", content: "x" }], max_tokens: 3, seed: 1,
      response_format: { type: "json_schema", json_schema: { name: "s", schema: schemas[0] } } },
    true, false);
  check(finish === "length", "a cut JSON ends with length, got " + finish);
}

// Schemas dsv3 cannot honour: 400, the message naming the keyword.
for (const [schema, word] of [
  [{ type: "string", pattern: "^a+$" }, '"pattern" is not supported'],
  [{ type: "object", properties: { n: { type: "number", minimum: 0 } } }, '"minimum" is not supported'],
  [{ type: "strange" }, 'unknown type "strange"'],
  [{ $ref: "#/$defs/none" }, "is not defined"],
]) {
  const res = await post("/chat/completions", {
    model: "default", messages: [{ role: "user", content: "x" }],
    response_format: { type: "json_schema", json_schema: { name: "bad", schema } },
  });
  const body = await res.json();
  check(res.status === 400, `status ${res.status} for ${JSON.stringify(schema)}`);
  check(body.error && body.error.message.includes(word), `message "${body.error?.message}" names ${word}`);
  check(body.error && body.error.param === "response_format", "param " + body.error?.param);
}

console.log(`${runs} constrained outputs checked with ajv`);
if (failures === 0) console.log("all ok");
process.exit(failures === 0 ? 0 : 1);
