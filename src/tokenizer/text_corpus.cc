#include "tokenizer/text_corpus.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "tokenizer/utf8.h"
#include "util/atomic_file.h"
#include "util/thread_pool.h"

namespace dsv3 {
namespace {

constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";

bool is_space_in_line(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

bool is_blank(std::string_view line) {
  return std::all_of(line.begin(), line.end(), is_space_in_line);
}

// `line` without the CR of a CRLF line ending.
std::string_view strip_cr(std::string_view line) {
  return !line.empty() && line.back() == '\r' ? line.substr(0, line.size() - 1) : line;
}

// Appends the paragraphs or lines of one file's text.
void split_lines(const std::string& path, std::string_view text, DocumentBoundary boundary,
                 std::vector<TextDocument>& out) {
  size_t doc_start = 0, doc_end = 0, doc_line = 0;  // the open paragraph; empty when doc_end == 0
  auto close = [&] {
    if (doc_end > doc_start) {
      out.push_back({std::string(strip_cr(text.substr(doc_start, doc_end - doc_start))),
                     path + ":" + std::to_string(doc_line)});
    }
    doc_start = doc_end = 0;
  };
  size_t line_no = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    const std::string_view line = text.substr(pos, eol - pos);
    ++line_no;
    if (is_blank(line)) {
      close();
    } else if (boundary == DocumentBoundary::kLine) {
      out.push_back({std::string(strip_cr(line)), path + ":" + std::to_string(line_no)});
    } else {
      if (doc_end == 0) {
        doc_start = pos;
        doc_line = line_no;
      }
      doc_end = eol;
    }
    pos = eol + 1;
  }
  close();
}

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

int resolve_threads(int requested) {
  if (requested > 0) return requested;
  return std::max(1, int(std::thread::hardware_concurrency()));
}

}  // namespace

Result<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Err("cannot read ", path, ": ", std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return Err("reading ", path, " failed: ", std::strerror(errno));
  std::string text = std::move(buffer).str();
  if (text.starts_with(kByteOrderMark)) text.erase(0, kByteOrderMark.size());
  if (utf8_first_invalid(text).has_value()) text = utf8_lossy(text);
  return text;
}

Result<DocumentBoundary> parse_document_boundary(std::string_view name) {
  if (name == "file") return DocumentBoundary::kFile;
  if (name == "paragraph") return DocumentBoundary::kParagraph;
  if (name == "line") return DocumentBoundary::kLine;
  return Err("document boundary '", name, "' is not one of file, paragraph, line");
}

Result<std::vector<TextDocument>> read_documents(std::span<const std::string> paths,
                                                 DocumentBoundary boundary) {
  if (paths.empty()) return Err("no data files given");
  std::vector<TextDocument> documents;
  for (const std::string& path : paths) {
    DSV3_ASSIGN_OR_RETURN(std::string text, read_text_file(path));
    if (boundary != DocumentBoundary::kFile) {
      split_lines(path, text, boundary, documents);
    } else if (!std::all_of(text.begin(), text.end(),
                            [](char c) { return c == '\n' || is_space_in_line(c); })) {
      documents.push_back({std::move(text), path});
    }
  }
  if (documents.empty()) {
    return Err("the data files (", paths.front(), paths.size() > 1 ? " and others" : "",
               ") hold no text");
  }
  return documents;
}

std::vector<std::string> paragraphs_of(std::string_view text) {
  std::vector<TextDocument> documents;
  split_lines("", text, DocumentBoundary::kParagraph, documents);
  std::vector<std::string> paragraphs;
  paragraphs.reserve(documents.size());
  for (TextDocument& d : documents) paragraphs.push_back(std::move(d.text));
  return paragraphs;
}

Result<TrainValidationSplit> split_train_validation(size_t num_documents,
                                                    double validation_fraction, uint64_t seed) {
  if (!(validation_fraction >= 0.0 && validation_fraction < 1.0)) {
    return Err("validation fraction ", validation_fraction, " is outside [0, 1)");
  }
  size_t num_validation = size_t(std::llround(double(num_documents) * validation_fraction));
  if (validation_fraction > 0.0) num_validation = std::max<size_t>(num_validation, 1);
  if (num_validation >= num_documents && num_documents > 0) {
    return Err("a validation fraction of ", validation_fraction, " of ", num_documents,
               " document(s) leaves none for training; give more documents (more files, or "
               "paragraph or line boundaries)");
  }
  if (num_documents == 0) return Err("there are no documents to split");
  std::vector<size_t> order(num_documents);
  for (size_t i = 0; i < num_documents; ++i) order[i] = i;
  uint64_t state = seed;
  for (size_t i = num_documents - 1; i > 0; --i) {
    std::swap(order[i], order[splitmix64(state) % (i + 1)]);
  }
  TrainValidationSplit split;
  split.validation.assign(order.begin(), order.begin() + std::ptrdiff_t(num_validation));
  split.train.assign(order.begin() + std::ptrdiff_t(num_validation), order.end());
  std::sort(split.validation.begin(), split.validation.end());
  std::sort(split.train.begin(), split.train.end());
  return split;
}

Result<TokenStream> tokenize_documents(const Tokenizer& tokenizer,
                                       std::span<const TextDocument> documents,
                                       std::span<const size_t> order,
                                       const TokenStreamOptions& options) {
  if (tokenizer.eos_id() < 0) return Err("the tokenizer has no EOS token to end documents with");
  if (options.bos_at_start && tokenizer.bos_id() < 0) {
    return Err("the tokenizer has no BOS token to start documents with");
  }
  for (size_t index : order) {
    if (index >= documents.size()) {
      return Err("document index ", index, " is outside [0, ", documents.size(), ")");
    }
  }
  std::vector<std::vector<int32_t>> ids(order.size());
  ThreadPool pool(
      std::min<int>(resolve_threads(options.num_threads), int(std::max<size_t>(order.size(), 1))));
  pool.run(int64_t(order.size()),
           [&](int64_t i) { ids[size_t(i)] = tokenizer.encode(documents[order[size_t(i)]].text); });
  TokenStream stream;
  size_t total = 0;
  for (const auto& d : ids) total += d.size() + 2;
  stream.ids.reserve(total);
  for (size_t i = 0; i < order.size(); ++i) {
    if (options.bos_at_start) stream.ids.push_back(tokenizer.bos_id());
    stream.ids.insert(stream.ids.end(), ids[i].begin(), ids[i].end());
    if (options.eos_after_document) stream.ids.push_back(tokenizer.eos_id());
    stream.text_bytes += int64_t(documents[order[i]].text.size());
    stream.text_tokens += int64_t(ids[i].size());
  }
  stream.num_documents = int64_t(order.size());
  return stream;
}

Status write_token_file(const std::string& path, std::span<const int32_t> ids) {
  DSV3_ASSIGN_OR_RETURN(AtomicFile f, AtomicFile::create(path));
  if constexpr (std::endian::native == std::endian::little) {
    DSV3_TRY(f.write(ids.data(), ids.size_bytes()));
  } else {
    std::vector<uint8_t> bytes(ids.size_bytes());
    for (size_t i = 0; i < ids.size(); ++i) {
      for (int b = 0; b < 4; ++b) bytes[4 * i + size_t(b)] = uint8_t(uint32_t(ids[i]) >> (8 * b));
    }
    DSV3_TRY(f.write(bytes.data(), bytes.size()));
  }
  return f.commit();
}

Result<std::vector<int32_t>> read_token_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Err("cannot read ", path, ": ", std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  const std::string bytes = std::move(buffer).str();
  if (bytes.size() % 4 != 0) {
    return Err(path, ": ", bytes.size(), " bytes is not a whole number of int32 ids");
  }
  std::vector<int32_t> ids(bytes.size() / 4);
  for (size_t i = 0; i < ids.size(); ++i) {
    const auto* b = reinterpret_cast<const uint8_t*>(bytes.data() + 4 * i);
    ids[i] =
        int32_t(uint32_t(b[0]) | uint32_t(b[1]) << 8 | uint32_t(b[2]) << 16 | uint32_t(b[3]) << 24);
  }
  return ids;
}

}  // namespace dsv3
