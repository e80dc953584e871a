"""Stand-in for ModelArts' moxing in the tests: obs://<bucket>/<path> is $FAKE_OBS_ROOT/<bucket>/<path>.

Only what src/modelarts.py uses: file.copy_parallel (folders), file.copy (files), file.exists.
Every copy from OBS is appended to $FAKE_OBS_ROOT/.downloads (one line each), so tests can count them;
FAKE_OBS_DELAY (seconds) slows each download down so that concurrent ranks overlap.
"""
import os
import shutil
import time

PREFIX = "obs://"


def _local(url):
    if not url.startswith(PREFIX):
        return url
    return os.path.join(os.environ["FAKE_OBS_ROOT"], url[len(PREFIX):])


def _log_download(src_url, dst_url):
    if src_url.startswith(PREFIX):
        time.sleep(float(os.environ.get("FAKE_OBS_DELAY", "0")))
        with open(os.path.join(os.environ["FAKE_OBS_ROOT"], ".downloads"), "a") as handle:
            handle.write("%d %s -> %s\n" % (os.getpid(), src_url, dst_url))


class file:  # noqa: N801  (moxing's namespace is called file)
    @staticmethod
    def copy_parallel(src_url, dst_url):
        _log_download(src_url, dst_url)
        shutil.copytree(_local(src_url), _local(dst_url), dirs_exist_ok=True)

    @staticmethod
    def copy(src_url, dst_url):
        _log_download(src_url, dst_url)
        target = _local(dst_url)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(_local(src_url), target)

    @staticmethod
    def exists(url):
        return os.path.exists(_local(url))
