"""The metric vocabulary: one name per quantity, used in CSV columns, summary.json keys and reports.

    natural_acc           accuracy on the clean texts
    loss                  mean cross-entropy on the clean texts
    adversarial_acc       accuracy under attack: texts still classified correctly after the attack,
                          over all attacked texts (TextAttack's "accuracy under attack")
    attack_success_rate   successful attacks over attacked texts that were correct before
    n_attacked            texts the attack ran on
"""

NATURAL_ACC = "natural_acc"
LOSS = "loss"
ADVERSARIAL_ACC = "adversarial_acc"
ATTACK_SUCCESS_RATE = "attack_success_rate"
N_ATTACKED = "n_attacked"

# names that earlier versions wrote, and the name each quantity has now
RENAMED_METRICS = {"clean_acc": NATURAL_ACC, "adv_acc": ADVERSARIAL_ACC, "n_adv": N_ATTACKED}
