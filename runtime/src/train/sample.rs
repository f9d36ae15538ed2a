//! Generating text with a trained language model (`dlpc sample`).
//!
//! The model reads a window of `T` tokens (`class(V)[B, T]`) and scores
//! the next token at every position (`f32[B, T, V]`). Each new token is
//! drawn from the scores at the last position written: while the text is
//! shorter than the window, it sits at the start of the window and the
//! rest is padding, which a causal model never looks at; after that, the
//! window holds the last `T` tokens. Tokens are bytes, or characters
//! numbered by the run's vocabulary, as a `text` source reads them.

use super::infer::Trained;
use super::TrainError;
use crate::backend::{Backend, Runner};
use crate::rng;
use crate::tensor::Tensor;
use dlp_compiler::ir::{DType, Hyper, Input, Output, Size};
use dlp_compiler::program::PredictStep;

/// Which input takes the tokens and which output scores the next one.
#[derive(Clone, Debug, PartialEq)]
pub struct LanguageModel {
    pub input: String,
    pub output: String,
    /// Tokens per window (`T`).
    pub context: usize,
    /// Scores per position (`V`): the vocabulary.
    pub vocab: usize,
}

impl LanguageModel {
    /// Finds the token input (an integer `[B, T]`) and the scores (`[B, T,
    /// V]`, or the output named `output`) of a model step
    /// ([`dlp_compiler::lower::Predict::Model`]); an error says what the
    /// model would need.
    pub fn of(step: &PredictStep, output: Option<&str>) -> Result<LanguageModel, String> {
        let graph = step.step.graph();
        let windows: Vec<(String, usize)> = graph
            .inputs()
            .filter_map(|(input, node)| match input {
                Input::Feed(name) => Some((name, graph.ty(node))),
                _ => None,
            })
            .filter_map(|(name, ty)| match ty.shape.as_slice() {
                [b, t] if *b == Size::BATCH && ty.dtype == DType::I32 => {
                    Some((name.clone(), t.as_fixed()?))
                }
                _ => None,
            })
            .collect();
        let inputs = graph
            .inputs()
            .filter(|(i, _)| matches!(i, Input::Feed(_)))
            .count();
        let ([(input, context)], 1) = (windows.as_slice(), inputs) else {
            return Err(format!(
                "sampling needs a model with one input, a window of tokens such as `input x: class(256)[B, T]`; this model has {inputs} input(s), {} of them a window of tokens",
                windows.len()
            ));
        };
        let scores = |o: &&dlp_compiler::program::OutputSpec| matches!(o.shape.as_slice(), [t, v] if t == context && *v > 0);
        let names: Vec<String> = step
            .outputs
            .iter()
            .map(|o| format!("`{}`", o.name))
            .collect();
        let chosen = match output {
            Some(name) => {
                let Some(o) = step.outputs.iter().find(|o| o.name == name) else {
                    return Err(format!(
                        "the model has no output `{name}`; its outputs are {}",
                        names.join(", ")
                    ));
                };
                if !scores(&o) {
                    return Err(format!(
                        "output `{name}` has per-sample shape {:?}: the scores of the next token are [{context}, vocabulary]",
                        o.shape
                    ));
                }
                o
            }
            None => {
                let found: Vec<_> = step.outputs.iter().filter(scores).collect();
                match found.as_slice() {
                    [o] => *o,
                    [] => {
                        return Err(format!(
                            "no output of the model scores the next token: that needs a shape [B, {context}, vocabulary]; its outputs are {}",
                            names.join(", ")
                        ))
                    }
                    _ => {
                        return Err(format!(
                            "several outputs could score the next token ({}): choose one with `--output-name`",
                            names.join(", ")
                        ))
                    }
                }
            }
        };
        Ok(LanguageModel {
            input: input.clone(),
            output: chosen.name.clone(),
            context: *context,
            vocab: chosen.shape[1],
        })
    }
}

/// How the next token is drawn from the scores.
#[derive(Clone, Copy, Debug)]
pub struct Sampling {
    /// Scores are divided by it before the softmax; 0 takes the most
    /// likely token every time.
    pub temperature: f64,
    /// Draw among the `k` most likely tokens only.
    pub top_k: Option<usize>,
    /// Draw among the first `n` tokens only: the run's character
    /// vocabulary, when the model scores more tokens than it has.
    pub vocabulary: Option<usize>,
    pub seed: u64,
}

/// Extends `prompt` by `count` tokens, handing each to `emit` as it is
/// drawn; returns the new tokens.
#[allow(clippy::too_many_arguments)]
pub fn generate(
    step: &PredictStep,
    lm: &LanguageModel,
    model: &Trained,
    backend: Backend,
    prompt: &[u32],
    count: usize,
    how: Sampling,
    mut emit: impl FnMut(u32),
) -> Result<Vec<u32>, TrainError> {
    if prompt.is_empty() {
        return Err(TrainError::Run(
            "the prompt is empty: give at least one token to continue".into(),
        ));
    }
    if let Some(&t) = prompt.iter().find(|&&t| t as usize >= lm.vocab) {
        return Err(TrainError::Run(format!(
            "the prompt has token {t}, outside the model's vocabulary of {}",
            lm.vocab
        )));
    }
    let mut runner = Runner::new(backend, &step.step, "sample")?;
    let seed = Tensor::scalar_i32(model.seed as u32 as i32);
    let zero = Tensor::scalar_i32(0);
    let index = Tensor::i32(vec![1], vec![0]);
    let mut text = prompt.to_vec();
    let mut new = Vec::with_capacity(count);
    for n in 0..count {
        let start = text.len().saturating_sub(lm.context);
        let mut window: Vec<i32> = text[start..].iter().map(|&t| t as i32).collect();
        let last = window.len() - 1;
        window.resize(lm.context, 0);
        let tokens = Tensor::i32(vec![1, lm.context], window);
        let outputs = runner.run(1, &|input| match input {
            Input::Feed(name) if *name == lm.input => Some(&tokens),
            Input::Param(p) | Input::ModelState(p) => model.params.get(p),
            Input::Seed => Some(&seed),
            Input::SampleIndex => Some(&index),
            Input::Hyper(Hyper::Step | Hyper::Epoch) => Some(&zero),
            _ => None,
        })?;
        let scores = outputs
            .into_iter()
            .find(|(o, _)| *o == Output::Prediction(lm.output.clone()))
            .map(|(_, t)| t.to_f64())
            .ok_or_else(|| TrainError::Run(format!("the step gave no `{}`", lm.output)))?;
        let row = &scores[last * lm.vocab..(last + 1) * lm.vocab];
        let row = &row[..how.vocabulary.unwrap_or(lm.vocab).clamp(1, lm.vocab)];
        let u = rng::uniform(how.seed as u32, rng::stream_of("sample"), n as u32, 0);
        let token = draw(row, how, u);
        text.push(token);
        new.push(token);
        emit(token);
    }
    Ok(new)
}

/// The token that `u` (uniform in [0, 1)) picks from the softmax of
/// `scores / temperature`, among the `top_k` best.
fn draw(scores: &[f64], how: Sampling, u: f64) -> u32 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    // Best first; ties keep the lower token first, so a draw is reproducible.
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    if how.temperature <= 0.0 {
        return order[0] as u32;
    }
    order.truncate(how.top_k.unwrap_or(scores.len()).max(1));
    let best = scores[order[0]];
    let weights: Vec<f64> = order
        .iter()
        .map(|&i| ((scores[i] - best) / how.temperature).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    let mut left = u * total;
    for (&i, w) in order.iter().zip(&weights) {
        if left < *w {
            return i as u32;
        }
        left -= w;
    }
    order[order.len() - 1] as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn how(temperature: f64, top_k: Option<usize>) -> Sampling {
        Sampling {
            temperature,
            top_k,
            vocabulary: None,
            seed: 0,
        }
    }

    #[test]
    fn zero_temperature_takes_the_best_token() {
        assert_eq!(draw(&[0.1, 3.0, 2.0], how(0.0, None), 0.99), 1);
    }

    #[test]
    fn draws_follow_the_softmax() {
        // Weights e^0 : e^{ln 3} = 1 : 3, best first: token 1 covers [0, 0.75).
        let scores = [0.0, 3f64.ln()];
        assert_eq!(draw(&scores, how(1.0, None), 0.7), 1);
        assert_eq!(draw(&scores, how(1.0, None), 0.8), 0);
        // Only the best token is left with top-k 1.
        assert_eq!(draw(&scores, how(1.0, Some(1)), 0.99), 1);
    }
}
