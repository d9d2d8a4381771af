// The English passage `dsv3 bench` prefills when the model has a tokenizer: MTP acceptance
// means something only on text the model was made for (on random token ids a draft layer
// and its main model rarely agree). Written for dsv3; public domain.
#pragma once

#include <string_view>

namespace dsv3 {

std::string_view bench_passage();

}  // namespace dsv3
