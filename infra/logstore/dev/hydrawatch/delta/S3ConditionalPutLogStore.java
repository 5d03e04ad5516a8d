package dev.hydrawatch.delta;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Iterator;
import java.util.UUID;

import io.delta.storage.HadoopFileSystemLogStore;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FSDataOutputStreamBuilder;
import org.apache.hadoop.fs.FileAlreadyExistsException;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.s3a.AWSServiceIOException;
import org.apache.hadoop.fs.s3a.RemoteFileChangedException;

/**
 * A Delta Lake log store for S3 (s3a://) that any number of drivers may commit through at once.
 *
 * <p>Delta commits version N of a table by creating {@code _delta_log/N.json} and needs that
 * create to fail when the file exists: the loser of a race then re-reads the log, checks for a
 * conflict and tries version N+1. Delta's default for S3, {@code S3SingleDriverLogStore}, only
 * guarantees this between the threads of one driver (an in-memory lock, then a probe and a plain
 * PUT): two drivers both write version N and one commit is silently lost. Here the commit file is
 * created with S3's conditional PUT ({@code If-None-Match: *}, through Hadoop S3A's mandatory
 * {@code fs.option.create.conditional.overwrite} create option), so S3 itself lets exactly one
 * writer create it and answers the others 412 Precondition Failed, which becomes the
 * {@link java.nio.file.FileAlreadyExistsException} Delta's commit loop expects.
 *
 * <p>A failed PUT whose outcome is unknown (a time-out after S3 stored the object, retried by the
 * SDK into a 412) must not be mistaken for a lost race, or Delta would commit the same actions
 * again at the next version. Each commit therefore carries a random id in its user metadata; when
 * the publishing close fails, the store reads the object's id back: its own id means the commit
 * landed, another id a lost race, and anything else is reported as an unknown outcome.
 *
 * <p>Overwrites (checkpoints, {@code _last_checkpoint}) are plain PUTs: they replace whole
 * objects, which S3 makes visible atomically. Reads and listings are Hadoop's; S3 lists
 * consistently since December 2020.
 */
public class S3ConditionalPutLogStore extends HadoopFileSystemLogStore {
    static final String CONDITIONAL_CREATE = "fs.option.create.conditional.overwrite";
    static final String COMMIT_ID = "hydrawatch-commit-id";

    public S3ConditionalPutLogStore(Configuration initHadoopConf) {
        super(initHadoopConf);
    }

    @Override
    public void write(Path path, Iterator<String> actions, Boolean overwrite, Configuration hadoopConf)
            throws IOException {
        FileSystem fs = path.getFileSystem(hadoopConf);
        if (overwrite) {
            try (FSDataOutputStream out = fs.create(path, true)) {
                writeLines(out, actions);
            }
            return;
        }
        if (!fs.hasPathCapability(path, CONDITIONAL_CREATE)) {
            throw new UnsupportedOperationException(
                "no conditional create (put-if-absent) on " + fs.getUri()
                    + ": this log store needs Hadoop S3A 3.4.2 or newer with"
                    + " fs.s3a.create.conditional.enabled=true, on a store that honours If-None-Match");
        }
        String commitId = UUID.randomUUID().toString();
        FSDataOutputStream out;
        try {
            FSDataOutputStreamBuilder<?, ?> builder = fs.createFile(path);
            builder.overwrite(false);
            builder.must(CONDITIONAL_CREATE, true);
            builder.must("fs.s3a.create.header." + COMMIT_ID, commitId);
            out = builder.build();
        } catch (FileAlreadyExistsException e) {
            throw lostRace(path, e);
        }
        try {
            writeLines(out, actions);
        } catch (IOException | RuntimeException | Error e) {
            // close() would publish a partial commit: abandon the upload instead.
            abandon(out, e);
            throw e;
        }
        try {
            out.close(); // the conditional PUT happens here
        } catch (IOException e) {
            abandon(out, e);
            settle(fs, path, commitId, e);
        }
    }

    @Override
    public Boolean isPartialWriteVisible(Path path, Configuration hadoopConf) {
        return false; // an S3 object appears whole or not at all
    }

    private static void writeLines(OutputStream out, Iterator<String> actions) throws IOException {
        while (actions.hasNext()) {
            out.write((actions.next() + "\n").getBytes(StandardCharsets.UTF_8));
        }
    }

    /** The publishing PUT failed: find out whether the commit is ours, another's, or unknown. */
    private static void settle(FileSystem fs, Path path, String commitId, IOException failure)
            throws IOException {
        if (isInterrupt(failure)) {
            throw unknownOutcome(path, failure, null);
        }
        byte[] owner;
        try {
            if (!fs.getFileStatus(path).isFile()) {
                throw new IOException("not a file: " + path);
            }
            owner = fs.getXAttr(path, "header." + COMMIT_ID);
        } catch (IOException | UnsupportedOperationException probe) {
            // Nothing there (or no answer): neither our commit nor a proven lost race.
            throw unknownOutcome(path, failure, probe);
        }
        if (Arrays.equals(commitId.getBytes(StandardCharsets.UTF_8), owner)) {
            return; // stored before the failure (a retried PUT found our own object)
        }
        if (isConditionalConflict(failure)) {
            throw lostRace(path, failure);
        }
        throw unknownOutcome(path, failure, null);
    }

    private static boolean isConditionalConflict(IOException failure) {
        if (failure instanceof RemoteFileChangedException
                || failure instanceof FileAlreadyExistsException) {
            return true;
        }
        if (failure instanceof AWSServiceIOException) {
            int status = ((AWSServiceIOException) failure).statusCode();
            return status == 412 || status == 409;
        }
        return false;
    }

    private static java.nio.file.FileAlreadyExistsException lostRace(Path path, Exception cause) {
        java.nio.file.FileAlreadyExistsException e =
            new java.nio.file.FileAlreadyExistsException(path.toString());
        e.initCause(cause);
        return e;
    }

    private static IOException unknownOutcome(Path path, IOException failure, Throwable probe) {
        String message = "unknown outcome of the conditional write of " + path
            + ": the commit may or may not have been stored; read the table's history before"
            + " writing again";
        IOException e = isInterrupt(failure)
            ? new InterruptedIOException(message) : new IOException(message);
        e.initCause(failure);
        if (probe != null && probe != failure) {
            e.addSuppressed(probe);
        }
        return e;
    }

    private static boolean isInterrupt(Throwable t) {
        return (t instanceof InterruptedIOException && !(t instanceof SocketTimeoutException))
            || Thread.currentThread().isInterrupted();
    }

    private static void abandon(FSDataOutputStream out, Throwable failure) {
        try {
            out.abort();
        } catch (RuntimeException | Error cleanup) {
            if (cleanup != failure) {
                failure.addSuppressed(cleanup);
            }
        }
    }
}
