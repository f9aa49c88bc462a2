"""Knowledge-distillation losses: soft targets, hidden states, attention distributions.

All return one float32 value per example (`[batch]`), so that a task sums them
and divides by the global number of examples like its other losses.

- `soft_target_loss`: Hinton et al. (2015), "Distilling the Knowledge in a
  Neural Network": `T^2 * KL(softmax(teacher / T) || softmax(student / T))`; the
  `T^2` keeps its gradients on the scale of the hard-label loss as `T` grows.
- `hidden_state_loss`: TinyBERT (Jiao et al., 2020): mean squared error between
  a student layer's states (projected to the teacher's width when they differ)
  and a teacher layer's, averaged over the real tokens.
- `attention_distribution_loss`: MiniLM (Wang et al., 2020): KL divergence from
  the teacher's self-attention distributions to the student's, per head and
  query token, averaged over the heads and the real query tokens.

Example:
>>> soft_target_loss(student_logits, teacher_logits, temperature=2.0)   # [batch]
"""

import tensorflow as tf


def soft_target_loss(student_logits, teacher_logits, temperature):
    """`T^2 * KL(p_teacher || p_student)` at temperature `T`, `[batch]` float32.

    Args:
      student_logits, teacher_logits: `[batch, classes]` (any float dtype).
      temperature: a positive float; both distributions are `softmax(logits / T)`.
    """
    if float(temperature) <= 0:
        raise ValueError(f"`temperature` must be positive, got {temperature}.")
    t = tf.constant(float(temperature), tf.float32)
    student = tf.nn.log_softmax(tf.cast(student_logits, tf.float32) / t, axis=-1)
    teacher = tf.nn.log_softmax(tf.cast(teacher_logits, tf.float32) / t, axis=-1)
    kl = tf.reduce_sum(tf.exp(teacher) * (teacher - student), axis=-1)
    return kl * t * t


def hidden_state_loss(student_states, teacher_states, padding_mask):
    """Mean squared error per real token, averaged over each example's tokens, `[batch]`.

    Args:
      student_states: `[batch, seq, dim]`, already projected to the teacher's
        width.
      teacher_states: `[batch, seq, dim]`.
      padding_mask: `[batch, seq]`, 1 for real tokens (padding is not compared).
    """
    mask = tf.cast(padding_mask, tf.float32)
    difference = tf.cast(student_states, tf.float32) - tf.cast(teacher_states, tf.float32)
    per_token = tf.reduce_mean(tf.square(difference), axis=-1)
    return tf.reduce_sum(per_token * mask, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1),
                                                                1.0)


def attention_distribution_loss(student_probabilities, teacher_probabilities, padding_mask):
    """`KL(teacher || student)` of attention distributions, averaged over heads and real
    query tokens, `[batch]`.

    Args:
      student_probabilities, teacher_probabilities: `[batch, heads, seq, seq]`
        distributions over the keys (0 at padded keys), the same number of heads.
      padding_mask: `[batch, seq]`, 1 for real tokens: padded queries are not
        compared, padded keys hold no probability.
    """
    student = tf.cast(student_probabilities, tf.float32)
    teacher = tf.cast(teacher_probabilities, tf.float32)
    if student.shape[1] is not None and teacher.shape[1] is not None and \
            student.shape[1] != teacher.shape[1]:
        raise ValueError(f"Attention distributions need the same number of heads: the student "
                         f"has {student.shape[1]}, the teacher {teacher.shape[1]}.")
    tiny = 1e-12
    # 0 * log 0 = 0: keys without teacher probability (padding) add nothing.
    kl = tf.reduce_sum(tf.where(teacher > 0.0,
                                teacher * (tf.math.log(teacher + tiny) -
                                           tf.math.log(student + tiny)), 0.0), axis=-1)
    mask = tf.cast(padding_mask, tf.float32)
    per_query = tf.reduce_mean(kl, axis=1)  # over heads: [batch, seq]
    return tf.reduce_sum(per_query * mask, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1),
                                                                1.0)
