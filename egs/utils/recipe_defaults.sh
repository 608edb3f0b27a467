#!/usr/bin/env bash
# Options common to every recipe (each is overridable as --name value). A recipe's run.sh
# sets its dataset-specific defaults after sourcing this file.
python=${python:-python}
stage=0             # first stage to run
stop_stage=4        # last stage to run
storage_dir=storage # where the corpus is (or is generated)
task=sep_clean      # sep_clean or sep_noisy (corpora with noise)
model=""            # tdanet (default; blstmnet with --dataset mini), s4m, blstmnet, or any
                    # asteroid.models name (convtasnet, sudormrfnet, ...)
tag=""              # experiment name: exp/<model>_<tag> (default <dataset>_<task>_<k>k)
conf=""             # recipe conf (default local/conf.yml; the mini set: ../utils/conf_mini.yml)
force=false         # true: redo stages whose results exist (old trainings are moved aside)
# Training (empty = value from the conf).
preset=""           # the model's presets (asteroid-tdanet presets): tdanet, tdanet-large,
                    # tdanet-mini, s4m-tiny, convtasnet-mini, ... (empty: the model's own)
init_from=""        # fine-tune: start from a checkpoint, ModelScope directory or hub id
batch_size=""
lr=""
epochs=""
max_minutes=""      # wall-clock budget of the training in minutes
checkpoint_minutes="" # also write last.ckpt (resumed from) every this many minutes (conf: 5)
num_workers=""
loss=""             # sisdr, snr (neg-SNR, 30 dB threshold: the released loss), or a model's own
                    # (multistage: FLASepReformer's default, SepReformer's auxiliary-stage loss)
segment=""
gpus=""             # "" auto; 0 CPU; N use N GPUs (DDP when N > 1); 0,1 device ids
num_nodes=1         # nodes for multi-node DDP (launch one run.sh per node, Lightning env)
strategy=""         # Lightning strategy override (e.g. ddp, ddp_find_unused_parameters_true)
train_args=""       # any other conf key, e.g. "--stop_patience 20 --snr_threshold 20"
# Evaluation / publishing.
n_save_ex=5         # example folders written by stage 3
eval_args=""        # e.g. "--max_utterances 100 --device cpu"
hub_repo_id=""      # user/name: upload publish_dir to the Hugging Face hub in stage 4
real_speech_dir=""  # LibriSpeech-layout folder (<speaker>/[<chapter>/]*.flac): stage 3 also
                    # scores the model on two-speaker mixtures of it (eval_real_speech/)
real_speech_n=100   # mixtures built from real_speech_dir
# The mini dataset (--dataset mini).
mini_source=auto    # auto (Debian real recordings: Asterisk prompts, KDE words, Fish Fillets NG; + eSpeak NG), real, espeak
mini_args=""        # e.g. "--mini_n_train 500 --mini_n_espeak_speakers 40"
mini_license=cc-by-sa-3.0  # the card lists each source's licence (CC-BY(-SA)-3.0, GPL-2(+))
