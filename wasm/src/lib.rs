//! wasm layer (empty for now)
