// safetensors: the weight-file format PyTorch users exchange (huggingface/safetensors).
//
// Layout: an 8-byte little-endian u64 N, N bytes of UTF-8 JSON header, then the data buffer.
// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
// relative to the start of the buffer; data row-major, little-endian) and may hold
// "__metadata__": {string: string}.
//
// Writing (F32, F64, I64, BOOL: every metaloss dtype):
//  - the file is written to `path + ".tmp"`, fsync'ed and renamed over `path` (then the directory
//    is fsync'ed), so a crash leaves either the old file or the new one, never half of one;
//  - tensors are laid out as the reference implementation does: by dtype in descending order of
//    the reference's Dtype enum (I64, F64, F32, BOOL), then by name (byte order), so a file
//    written here is byte-identical to the reference's for the same tensors and no metadata;
//  - the header is compact JSON ("__metadata__" first, keys in std::map order, omitted when
//    empty) padded with spaces to a multiple of 8 bytes, so every tensor starts 8-byte aligned;
//  - views (non-contiguous, offset) are written as their row-major values; grad state is dropped.
//
// Reading:
//  - F32, F64, I64 and BOOL load as themselves; F16 and BF16 are converted to float32 (exactly:
//    every half/bfloat16 value is a float32 value). Any other dtype (I8, U8, I16, I32, U64, F8_*,
//    ...) is rejected, naming it.
//  - The file is checked strictly, as the reference does, plus duplicate-key and BOOL-byte checks:
//    header length within the file (and at most 100 MB), well-formed JSON (errors give the byte
//    position in the header), known fields only, shape x dtype size equal to the offset span,
//    offsets inside the buffer, and the tensors tiling the buffer exactly (no overlap, no gap, no
//    trailing bytes). Errors are std::runtime_error naming the file and the problem.
//  - Tensors come back in the order of the header.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace metaloss {

// checksum: also store a CRC-32 of every tensor (name and bytes) in the metadata key
// "metaloss_crc32"; load_safetensors then verifies it and names the tensor that fails (an edited
// value, a renamed tensor). Off by default: a plain file stays byte-identical to the reference's.
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {}, bool checksum = false);

struct SafetensorsFile {
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::map<std::string, std::string> metadata;
};

SafetensorsFile load_safetensors(const std::string& path);

}  // namespace metaloss
