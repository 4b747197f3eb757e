//! A validated program: the spec checked and resolved into a plan, input fields and outputs.
