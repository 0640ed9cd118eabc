"""Where frames come from: video files, folders of aligned faces, still images, webcams (readers),
and how a live source is paced and read without a queue (live)."""
