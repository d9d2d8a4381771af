// Text for training a model: files read as UTF-8, cut into documents, split into training
// and validation documents with a seed, tokenized into one stream of ids with EOS after
// every document, and written as files of little-endian int32 ids (the format that
// train::load_tokens and `dsv3 train --data` read).
//
//   DSV3_ASSIGN_OR_RETURN(auto docs, read_documents(paths, DocumentBoundary::kFile));
//   DSV3_ASSIGN_OR_RETURN(auto split, split_train_validation(docs.size(), 0.05, seed));
//   DSV3_ASSIGN_OR_RETURN(auto train, tokenize_documents(tokenizer, docs, split.train, {}));
//   DSV3_TRY(write_token_file("train.bin", train.ids));
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "util/result.h"

namespace dsv3 {

// The text of a file: bytes that are not valid UTF-8 replaced by U+FFFD (one per maximal
// invalid subpart, as the tokenizer does), a leading byte-order mark dropped. The error
// names the file.
Result<std::string> read_text_file(const std::string& path);

// Where one document ends and the next begins.
enum class DocumentBoundary {
  kFile,       // each file is one document
  kParagraph,  // documents are separated by blank (empty or whitespace-only) lines
  kLine,       // each line that is not blank is a document
};
// "file", "paragraph" or "line".
Result<DocumentBoundary> parse_document_boundary(std::string_view name);

struct TextDocument {
  std::string text;
  std::string origin;  // "path" for a whole file, "path:LINE" (1-based) otherwise
};

// The documents of `paths`, in order. Documents are kept as they are in the file except
// that paragraphs and lines lose their line breaks at either end; blank documents are
// dropped. Fails on a file that cannot be read and when there is no text at all.
Result<std::vector<TextDocument>> read_documents(std::span<const std::string> paths,
                                                 DocumentBoundary boundary);

// The paragraphs of `text` as read_documents cuts them with DocumentBoundary::kParagraph.
std::vector<std::string> paragraphs_of(std::string_view text);

struct TrainValidationSplit {
  std::vector<size_t> train;       // document indices, ascending
  std::vector<size_t> validation;  // ascending, disjoint from train; together all documents
};

// Holds out round(num_documents * validation_fraction) documents (at least one when the
// fraction is above zero), the first ones of a shuffle drawn from `seed` (splitmix64 and
// Fisher-Yates, so the split is the same on every machine). Fails when that leaves no
// training or no validation document, or the fraction is outside [0, 1).
Result<TrainValidationSplit> split_train_validation(size_t num_documents,
                                                    double validation_fraction, uint64_t seed);

struct TokenStreamOptions {
  bool bos_at_start = false;  // the tokenizer's BOS before each document
  // EOS after each document; off for documents that carry their own (rendered conversations).
  bool eos_after_document = true;
  int num_threads = 0;        // 0: one per core
};

struct TokenStream {
  std::vector<int32_t> ids;
  int64_t num_documents = 0;
  int64_t text_bytes = 0;   // UTF-8 bytes of the documents' text
  int64_t text_tokens = 0;  // ids of that text, without the BOS and EOS added around it
};

// ids of documents[order[0]], EOS, ids of documents[order[1]], EOS, ... (with BOS before
// each document if asked; without the EOS if asked). Special tokens written in a document's
// text (a rendered chat template's) become their ids. Fails if the tokenizer has no EOS (or
// no BOS when asked for).
Result<TokenStream> tokenize_documents(const Tokenizer& tokenizer,
                                       std::span<const TextDocument> documents,
                                       std::span<const size_t> order,
                                       const TokenStreamOptions& options = {});

// `ids` as little-endian int32, written to a temporary file and renamed into place.
Status write_token_file(const std::string& path, std::span<const int32_t> ids);
// The ids of a file written by write_token_file.
Result<std::vector<int32_t>> read_token_file(const std::string& path);

}  // namespace dsv3
