//! Client state.
